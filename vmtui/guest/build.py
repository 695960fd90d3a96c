"""``vmtui guest build``: a small Linux test guest from the distribution's packages.

The guest is a distro kernel (downloaded as a package, never installed) and an
initramfs holding busybox, dropbear (SSH as root with a generated key), the
openssh sftp-server (so files can be copied in), the virtio modules, a serial
shell on ttyS0 and SysRq enabled, and vmtui's crash module (crashmod.py).
Everything lands in the user's cache folder and is reused while its inputs
are unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncssh

from vmtui.guest import crashmod, debugsyms
from vmtui.guest.cpio import CpioWriter
from vmtui.guest.modules import module_index, module_order

# Bump when the guest's layout changes, so old caches are rebuilt.
GUEST_FORMAT = 8
KERNEL_META_PACKAGES = ("linux-image-cloud-amd64", "linux-image-amd64")
# Loaded at boot in this order after their dependencies; missing ones are skipped.
MODULES = ("virtio_pci", "virtio_net", "virtio_blk", "virtio_console", "virtio_scsi",
           "virtio_rng", "9pnet_virtio", "9p", "button", "evdev", "pvpanic_mmio", "pvpanic_pci",
           "fuse", "qemu_fw_cfg")
# In the initramfs but loaded only when asked: rc loads ramoops when the kernel
# command line reserves memory for it (ramoops.mem_address=...).
ON_DEMAND = ("ramoops",)
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
# Where dropbear (Debian's build) looks for the sftp subsystem.
GUEST_SFTP_PATH = "usr/lib/sftp-server"

Log = Callable[[str], None]


class GuestBuildError(Exception):
    """The guest cannot be built; the message says what is missing."""


@dataclass(frozen=True)
class Guest:
    """The files of a built guest."""

    dir: Path

    @property
    def kernel(self) -> Path:
        return self.dir / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.dir / "initramfs.cpio.gz"

    @property
    def ssh_key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def host_key(self) -> Path:
        return self.dir / "host_key.pub"

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def append(self) -> str:
        return "console=ttyS0 rdinit=/init panic=-1 net.ifnames=0"

    def ready(self) -> bool:
        files = (self.kernel, self.initrd, self.ssh_key, self.host_key, self.manifest)
        return all(f.exists() for f in files)

    def info(self) -> dict[str, str]:
        data: dict[str, str] = json.loads(self.manifest.read_text())
        return data


def cache_root() -> Path:
    """vmtui's cache folder: $VMTUI_CACHE, else $XDG_CACHE_HOME/vmtui, else ~/.cache/vmtui."""
    if env := os.environ.get("VMTUI_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmtui"


def default_guest() -> Guest:
    """The guest that ``vmtui guest build`` makes and the demo pool boots."""
    return Guest(cache_root() / "guest")


def _which(name: str, package: str, missing: list[str]) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        missing.append(f"{name} not found: install the {package} package")
        return ""
    return found


def check_tools() -> dict[str, str]:
    """Find every host tool the build needs, or say all that is missing."""
    missing: list[str] = []
    tools = {
        "qemu": _which("qemu-system-x86_64", "qemu-system-x86", missing),
        "busybox": _which("busybox", "busybox-static", missing),
        "dmesg": _which("dmesg", "util-linux", missing),  # -w (follow): busybox has none
        "dropbear": _which("dropbear", "dropbear-bin", missing),
        "dropbearkey": _which("dropbearkey", "dropbear-bin", missing),
        "apt-get": _which("apt-get", "apt", missing),
        "apt-cache": _which("apt-cache", "apt", missing),
        "dpkg-deb": _which("dpkg-deb", "dpkg", missing),
        "ldd": _which("ldd", "libc-bin", missing),
        # A real Linux system-call fuzzer, for the farm demo (vmtui demo --fuzz).
        "trinity": _which("trinity", "trinity", missing),
    }
    if not SFTP_SERVER.exists():
        missing.append(f"{SFTP_SERVER} not found: install the openssh-sftp-server package")
    if missing:
        raise GuestBuildError("cannot build the test guest:\n  " + "\n  ".join(missing))
    return tools


def _run(argv: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise GuestBuildError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        raise GuestBuildError(f"{' '.join(argv)} failed ({done.returncode}): "
                              f"{done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def kernel_package() -> str:
    """The concrete kernel image package the distro's meta package points at."""
    for meta in KERNEL_META_PACKAGES:
        try:
            out = _run(["apt-cache", "depends", meta])
        except GuestBuildError:
            continue
        if m := re.search(r"Depends: (linux-image-\S+)", out):
            return m.group(1)
    raise GuestBuildError(
        "no Linux kernel package found by apt-cache (tried "
        f"{', '.join(KERNEL_META_PACKAGES)}): run 'apt-get update' first")


def fetch_kernel(cache: Path, package: str, log: Log) -> tuple[Path, str]:
    """Download (once) and unpack the kernel package; return its root and .deb name."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        log(f"downloading {package} (apt-get download)")
        _run(["apt-get", "download", package], cwd=debs)
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise GuestBuildError(f"apt-get download {package} produced no .deb")
    deb = found[-1]
    root = cache / "kernel" / deb.stem
    if not (root / "boot").is_dir():
        log(f"unpacking {deb.name}")
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(tmp)])
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    return root, deb.name


def shared_libraries(binary: str) -> list[Path]:
    """The shared libraries (and loader) a dynamic binary needs; [] if static."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True,
                             check=False).stdout
    except OSError:
        return []
    libs = []
    for line in out.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(Path(m.group(1)))
    return libs


def _sha256(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def lock_down(folder: Path) -> None:
    """Make ``folder`` 0700 and every file in it 0600: it holds private keys
    (the client key, the guest's host key, and the initramfs carrying it)."""
    folder.chmod(0o700)
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(0o600)


def ensure_keys(guest: Guest, dropbearkey: str, log: Log) -> None:
    """Generate the SSH client key and the guest's host key if they are missing."""
    guest.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    guest.dir.chmod(0o700)
    if not guest.ssh_key.exists():
        log("generating the SSH key pair")
        key = asyncssh.generate_private_key("ssh-ed25519", comment="vmtui-guest")
        key.write_private_key(str(guest.ssh_key))
        guest.ssh_key.chmod(0o600)
        key.write_public_key(str(guest.ssh_key) + ".pub")
    host_priv = guest.dir / "host_key.dropbear"
    if not host_priv.exists() or not guest.host_key.exists():
        log("generating the guest's SSH host key")
        host_priv.unlink(missing_ok=True)
        _run([dropbearkey, "-t", "ed25519", "-f", str(host_priv)])
        out = _run([dropbearkey, "-y", "-f", str(host_priv)])
        pub = next((ln for ln in out.splitlines() if ln.startswith("ssh-ed25519 ")), None)
        if pub is None:
            raise GuestBuildError("dropbearkey printed no ssh-ed25519 public key")
        guest.host_key.write_text(" ".join(pub.split()[:2]) + " vmtui-guest-host\n")


class _Tree:
    """Adds files to the initramfs, creating parent folders as needed."""

    def __init__(self, cpio: CpioWriter) -> None:
        self.cpio = cpio

    def parents(self, name: str) -> None:
        parts = name.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folder = "/".join(parts[:i])
            if not self.cpio.has(folder):
                self.cpio.directory(folder)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self.parents(name)
        self.cpio.file(name, data, mode)

    def symlink(self, name: str, target: str) -> None:
        self.parents(name)
        if not self.cpio.has(name):
            self.cpio.symlink(name, target)

    def host_file(self, path: Path, mode: int = 0o755) -> None:
        if not self.cpio.has(str(path)):
            self.file(str(path), path.resolve().read_bytes(), mode)


def _asset(name: str) -> bytes:
    return resources.files("vmtui.guest").joinpath("files", name).read_bytes()


def build_initramfs(guest: Guest, tools: dict[str, str], kroot: Path,
                    modules: list[str], index: dict[str, Path], crash_module: bytes) -> bytes:
    """The initramfs as a gzip-compressed newc cpio archive."""
    raw = io.BytesIO()
    cpio = CpioWriter(raw)
    tree = _Tree(cpio)
    for folder in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev",
                   "tmp", "run", "var", "lib/modules", "etc/dropbear"):
        tree.parents(folder + "/x")
    cpio.directory("root", 0o700)
    cpio.directory("root/.ssh", 0o700)
    busybox = tools["busybox"]
    tree.file("bin/busybox", Path(busybox).read_bytes(), 0o755)
    tree.file("bin/dmesg", Path(tools["dmesg"]).read_bytes(), 0o755)  # before the applet
    applets = _run([busybox, "--list-full"]).split()
    for applet in applets:
        if applet != "bin/busybox":
            tree.symlink(applet, "/bin/busybox")
    tree.symlink("init", "/bin/busybox")
    tree.file("usr/sbin/dropbear", Path(tools["dropbear"]).read_bytes(), 0o755)
    tree.file(GUEST_SFTP_PATH, SFTP_SERVER.read_bytes(), 0o755)
    tree.file("usr/bin/trinity", Path(tools["trinity"]).read_bytes(), 0o755)
    for binary in (busybox, tools["dropbear"], str(SFTP_SERVER), tools["trinity"],
                   tools["dmesg"]):
        for lib in shared_libraries(binary):
            tree.host_file(lib)
    for name in modules:
        tree.file(f"lib/modules/{name}.ko", index[name].read_bytes())
    tree.file("etc/modules", "".join(f"{m}\n" for m in modules
                                     if m not in ON_DEMAND).encode())
    tree.file(crashmod.CRASH_MODULE.lstrip("/"), crash_module)  # loaded by tests, not at boot
    tree.file("etc/rc", _asset("rc"), 0o755)
    tree.file("etc/inittab", _asset("inittab"))
    tree.file("etc/profile", _asset("profile"))
    tree.file("etc/acpid.conf", _asset("acpid.conf"))
    tree.file("etc/acpi/power.sh", _asset("power.sh"), 0o755)
    tree.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                            b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    tree.file("etc/shadow", b"root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
              0o600)
    tree.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    tree.file("etc/shells", b"/bin/sh\n/bin/ash\n")
    tree.file("etc/dropbear/dropbear_ed25519_host_key",
              (guest.dir / "host_key.dropbear").read_bytes(), 0o600)
    pub = Path(str(guest.ssh_key) + ".pub").read_bytes()
    tree.file("root/.ssh/authorized_keys", pub, 0o600)
    cpio.close()
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def build(guest: Guest | None = None, *, force: bool = False, debug: bool = False,
          log: Log = lambda _msg: None) -> Guest:
    """Build the test guest, or reuse it if nothing it is made of changed;
    with ``debug``, also fetch the kernel's debug symbols (debugsyms.py).

    Raises:
        GuestBuildError: naming what is missing on the host.
    """
    guest = guest or default_guest()
    tools = check_tools()
    cache = guest.dir.parent
    package = kernel_package()
    kroot, deb = fetch_kernel(cache, package, log)
    ensure_keys(guest, tools["dropbearkey"], log)
    vmlinuz = sorted((kroot / "boot").glob("vmlinuz-*"))
    if not vmlinuz:
        raise GuestBuildError(f"{deb} holds no boot/vmlinuz-*")
    index = module_index(kroot)
    modules = module_order(index, MODULES + ON_DEMAND)
    try:
        crash_ko = crashmod.cached(guest.dir, vmlinuz[-1].name.removeprefix("vmlinuz-"), log)
    except crashmod.ModuleBuildError as exc:
        raise GuestBuildError(str(exc)) from exc
    inputs = _sha256(
        str(GUEST_FORMAT).encode(), deb.encode(), " ".join(modules).encode(), crash_ko,
        Path(tools["busybox"]).read_bytes(), Path(tools["dropbear"]).read_bytes(),
        Path(tools["trinity"]).read_bytes(), Path(tools["dmesg"]).read_bytes(),
        SFTP_SERVER.read_bytes(), guest.host_key.read_bytes(),
        Path(str(guest.ssh_key) + ".pub").read_bytes(),
        _asset("rc"), _asset("inittab"), _asset("profile"), _asset("acpid.conf"),
        _asset("power.sh"),
    )
    if not force and guest.ready() and guest.info().get("inputs") == inputs:
        log(f"guest is up to date in {guest.dir}")
        return _finish(guest, deb, vmlinuz[-1].name, debug, log)
    log(f"building the initramfs ({len(modules)} modules)")
    image = build_initramfs(guest, tools, kroot, modules, index, crash_ko)
    tmp = guest.initrd.with_suffix(".tmp")
    # The initramfs holds the guest's SSH host private key: never readable by others.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(image)
    tmp.rename(guest.initrd)
    shutil.copyfile(vmlinuz[-1], guest.kernel)
    guest.manifest.write_text(json.dumps({
        "inputs": inputs, "kernel_package": deb, "kernel": vmlinuz[-1].name,
        "modules": " ".join(modules), "format": str(GUEST_FORMAT),
    }, indent=2) + "\n")
    log(f"guest ready in {guest.dir} (initramfs {len(image) // 1024} KiB)")
    return _finish(guest, deb, vmlinuz[-1].name, debug, log)


def _finish(guest: Guest, deb: str, vmlinuz: str, debug: bool, log: Log) -> Guest:
    if debug:
        try:
            debugsyms.fetch(guest.dir, deb, vmlinuz.removeprefix("vmlinuz-"), log)
        except debugsyms.DebugSymbolsError as exc:
            raise GuestBuildError(str(exc)) from exc
    debugsyms.note_in_manifest(guest.manifest)
    lock_down(guest.dir)  # a cache from an older vmtui may be readable by all
    return guest
