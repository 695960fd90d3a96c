"""The guest kernel's debug symbols: ``vmtui guest build --debug``.

Debian ships the image kernel's DWARF as ``linux-image-<abi>-dbg`` (the same
version as the image; 283 MB to download, 1.75 GB installed). Only two of its
files are kept, in the guest's ``debug/`` folder under plain names:

- ``debug/vmlinux``    the kernel ELF with DWARF (590 MB), for file:line and gdb
- ``debug/System.map`` its symbol table (3.5 MB; the image's own is a stub)

``debug/debug.json`` records the package they came from: a guest rebuild (a
format bump, new busybox) keeps them, and they are fetched again only when the
image kernel's package changes. The .deb itself is deleted once extracted.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

DEBUG_DIR = "debug"
VMLINUX = "vmlinux"
SYSTEM_MAP = "System.map"
STAMP = "debug.json"

Log = Callable[[str], None]


class DebugSymbolsError(Exception):
    """The debug symbols cannot be fetched; the message says why."""


def dbg_package(image_deb: str) -> tuple[str, str]:
    """The -dbg package and version matching an image .deb's file name.

    >>> dbg_package("linux-image-6.1.0-57-cloud-amd64_6.1.192-3_amd64.deb")
    ('linux-image-6.1.0-57-cloud-amd64-dbg', '6.1.192-3')
    """
    parts = image_deb.removesuffix(".deb").split("_")
    if len(parts) != 3 or not parts[0].startswith("linux-image-"):
        raise DebugSymbolsError(f"{image_deb!r} is not a linux-image .deb file name")
    return parts[0] + "-dbg", parts[1].replace("%3a", ":")


def paths(guest_dir: Path) -> tuple[Path, Path]:
    """Where a guest keeps its vmlinux and System.map."""
    folder = guest_dir / DEBUG_DIR
    return folder / VMLINUX, folder / SYSTEM_MAP


def recorded(guest_dir: Path) -> dict[str, str]:
    """What ``debug.json`` says (empty when the symbols are not there)."""
    stamp = guest_dir / DEBUG_DIR / STAMP
    vmlinux, system_map = paths(guest_dir)
    if not (stamp.is_file() and vmlinux.is_file() and system_map.is_file()):
        return {}
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _run(argv: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise DebugSymbolsError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        raise DebugSymbolsError(f"{' '.join(argv)} failed ({done.returncode}): "
                                f"{(done.stderr or done.stdout).strip()}")


def extract(deb: Path, release: str, into: Path) -> None:
    """Only vmlinux and System.map of a -dbg .deb, into ``into`` under plain names."""
    members = [f"./usr/lib/debug/boot/vmlinux-{release}",
               f"./usr/lib/debug/boot/System.map-{release}"]
    with tempfile.TemporaryDirectory(prefix="x-", dir=into) as tmp:
        work = Path(tmp)
        with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) as dpkg:
            tar = subprocess.run(["tar", "-x", "-C", str(work), *members], stdin=dpkg.stdout,
                                 capture_output=True, text=True, check=False)
            assert dpkg.stdout is not None
            dpkg.stdout.close()
            err = dpkg.stderr.read().decode(errors="replace") if dpkg.stderr else ""
        if dpkg.returncode != 0 or tar.returncode != 0:
            raise DebugSymbolsError(f"extracting {deb.name} failed: "
                                    f"{(err + tar.stderr).strip()}")
        for member, name in zip(members, (VMLINUX, SYSTEM_MAP), strict=True):
            (work / member).rename(into / name)


def fetch(guest_dir: Path, image_deb: str, release: str, log: Log) -> tuple[Path, Path]:
    """The guest's vmlinux and System.map for the image ``image_deb``, fetched
    (apt-get download of the matching -dbg) only when not already there.

    Raises:
        DebugSymbolsError: apt cannot find or download the package, or it
            lacks the files.
    """
    package, version = dbg_package(image_deb)
    vmlinux, system_map = paths(guest_dir)
    if recorded(guest_dir).get("package") == f"{package}={version}":
        log(f"debug symbols up to date in {vmlinux.parent}")
        return vmlinux, system_map
    folder = vmlinux.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / STAMP).unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="dbg-", dir=folder) as tmp:
        work = Path(tmp)
        log(f"downloading {package}={version} (about 283 MB; apt-get download)")
        _run(["apt-get", "download", f"{package}={version}"], cwd=work)
        debs = sorted(work.glob(f"{package}_*.deb"))
        if not debs:
            raise DebugSymbolsError(f"apt-get download {package}={version} produced no .deb")
        log(f"extracting vmlinux and System.map from {debs[0].name}")
        extract(debs[0], release, work)
        for name in (VMLINUX, SYSTEM_MAP):
            (work / name).replace(folder / name)
    (folder / STAMP).write_text(json.dumps({
        "package": f"{package}={version}", "release": release,
        "vmlinux": VMLINUX, "system_map": SYSTEM_MAP}, indent=2) + "\n")
    log(f"debug symbols in {folder} ({vmlinux.stat().st_size >> 20} MiB vmlinux)")
    return vmlinux, system_map


def note_in_manifest(manifest: Path) -> None:
    """Add (or drop) the debug symbols' entries in a guest's manifest.json."""
    data = json.loads(manifest.read_text())
    for key in ("debug_package", "vmlinux", "system_map"):
        data.pop(key, None)
    if found := recorded(manifest.parent):
        data["debug_package"] = found["package"]
        data["vmlinux"] = f"{DEBUG_DIR}/{VMLINUX}"
        data["system_map"] = f"{DEBUG_DIR}/{SYSTEM_MAP}"
    manifest.write_text(json.dumps(data, indent=2) + "\n")
