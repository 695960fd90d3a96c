"""Which accelerator a pool gets: ``tcg``, ``kvm``, or ``auto`` decided by a real probe.

``/dev/kvm`` opening is no proof that KVM runs a guest: on a nested host it
opens, and the guest then stalls in its first protected-mode steps or QEMU
stops on "KVM internal error ... emulation failure". So ``auto`` boots a tiny
guest under KVM first (a few hundred bytes, generated here, booted with
``-kernel`` as a multiboot image): it must reach long mode, touch memory, copy
with ``rep movsq`` and run ``lock cmpxchg16b`` (what the kernel's early code and
the known nested-KVM failures need), printing one letter on the serial port
after each step, then leave through ``isa-debug-exit`` with a known status. The
verdict is kept per process and on disk (``accel.json`` in vmtui's cache),
keyed by the QEMU binary and its version, the host kernel release and CPU
model, and the pool's CPU model and machine, for :data:`VERDICT_TTL` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vmtui.backends.vm.errors import InfraError

PROBE_TIMEOUT = 5.0  # seconds the probe guest has to finish under KVM
VERDICT_TTL = 24 * 3600.0  # seconds a verdict on disk is trusted
PROBE_STEPS = "PLMRX"  # what the probe prints, one letter a step
STEP_NAMES = {"P": "protected mode", "L": "long mode", "M": "memory writes",
              "R": "rep movsq", "X": "lock cmpxchg16b"}
PROBE_EXIT = (0x2A << 1) | 1  # isa-debug-exit turns the byte 0x2a into this status

# The probe guest, assembled from this source (GNU as, --32; linked flat at 0):
#   multiboot header (flags bit 16: load at 0x100000, entry below)
#   entry (32-bit, paging off): out 'P' to 0x3f8; zero PML4/PDPT/PD at 0x10000;
#     PML4[0]->PDPT, PDPT[0]->PD, PD[0..511] = 2 MiB pages 0..1 GiB; CR4.PAE;
#     CR3; EFER.LME (wrmsr 0xc0000080); CR0.PG|PE; lgdt; ljmp 8:long64
#   long64: out 'L'; write a qword every 4 KiB from 4 MiB for 60 MiB; out 'M';
#     rep movsq 4 MiB from 4 MiB to 32 MiB; out 'R'; lock cmpxchg16b at 48 MiB;
#     out 'X'; out 0x2a to port 0xf4 (isa-debug-exit); hlt loop
#   gdt: null, 0x00af9a000000ffff (64-bit code); gdtr
PROBE_IMAGE = bytes.fromhex(
    "02b0ad1b00000100fe4f51e4000010000000100000000000000000002000100066baf803b050ee"
    "bf0000010031c0b9000c0000f3abc7050000010003100100c7050010010003200100bf00200100"
    "b883000000b9000200008907c7470400000000050000200083c708e2ed0f20e083c8200f22e0b8"
    "000001000f22d8b9800000c00f320d000100000f300f20c00d010000800f22c00f011520011000"
    "eaa3001000080066baf803b04cee48c7c70000400048c7c1003c000048890f4881c700100000e2"
    "f466baf803b04dee48c7c60000400048c7c70000000248c7c100000800f348a5b052ee48c7c700"
    "00000331c031d231db31c9f0480fc70f66baf803b058ee66baf400b02aeef4ebfd8d7426009000"
    "00000000000000ffff0000009aaf000f0010011000")


@dataclass(frozen=True)
class Verdict:
    """Whether KVM ran the probe guest here, and if not, why (one line)."""

    ok: bool
    why: str
    at: float  # time.time() of the probe


def kvm_usable() -> tuple[bool, str]:
    """Whether /dev/kvm can be opened for reading and writing, and why not."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False, "/dev/kvm does not exist"
    except OSError as exc:
        return False, f"/dev/kvm cannot be opened: {exc.strerror}"
    os.close(fd)
    return True, ""


def cache_file() -> Path:
    """``accel.json`` in vmtui's cache ($VMTUI_CACHE, $XDG_CACHE_HOME/vmtui, ~/.cache/vmtui)."""
    if env := os.environ.get("VMTUI_CACHE"):
        return Path(env) / "accel.json"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmtui" / "accel.json"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _qemu_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return out.splitlines()[0] if out else "unknown"


def host_key(binary: str, cpu: str, machine: str) -> str:
    """What a verdict depends on, hashed: QEMU (path, version), host kernel and CPU,
    and the pool's CPU model and machine type."""
    parts = [os.path.realpath(binary), _qemu_version(binary), platform.release(),
             _cpu_model(), cpu, machine.split(",")[0]]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _clean(text: str, limit: int = 160) -> str:
    """QEMU's words on one printable line."""
    line = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return line if len(line) <= limit else line[:limit - 1] + "…"


def probe_argv(binary: str, image: Path, cpu: str, machine: str) -> list[str]:
    argv = [binary, "-M", machine.split(",")[0] or "pc", "-accel", "kvm", "-m", "64",
            "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", str(image)]
    if cpu:
        argv[5:5] = ["-cpu", cpu]
    return argv


def judge(status: int | None, serial: str, stderr: str) -> Verdict:
    """The verdict from what the probe guest printed and how QEMU ended
    (``status`` None: it did not end within the timeout)."""
    now = time.time()
    if status == PROBE_EXIT and serial.endswith(PROBE_STEPS):
        return Verdict(True, "", now)
    reached = serial if PROBE_STEPS.startswith(serial) else ""
    step = PROBE_STEPS[len(reached)] if len(reached) < len(PROBE_STEPS) else ""
    where = f"stuck before {STEP_NAMES[step]}" if step else "did not exit"
    said = [ln for ln in stderr.splitlines()
            if ln.strip() and "warning:" not in ln and "terminating on signal" not in ln]
    why = f"{where} after {PROBE_TIMEOUT:g}s" if status is None else f"{where}, status {status}"
    if said:
        why += f": {_clean(said[0])}"
    return Verdict(False, f"a KVM test guest {why}", now)


def run_probe(binary: str, cpu: str, machine: str) -> Verdict:
    """Boot the probe guest under KVM (blocking, at most :data:`PROBE_TIMEOUT` s)."""
    with tempfile.TemporaryDirectory(prefix="vmtui-kvmprobe-") as tmp:
        image = Path(tmp) / "probe.bin"
        image.write_bytes(PROBE_IMAGE)
        try:
            done = subprocess.run(probe_argv(binary, image, cpu, machine),
                                  stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=PROBE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:  # run() killed and reaped it
            return judge(None, _text(exc.stdout), _text(exc.stderr))
        except OSError as exc:
            return Verdict(False, f"the KVM probe could not start {binary}: {exc}", time.time())
        return judge(done.returncode, _text(done.stdout), _text(done.stderr))


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


# The verdicts of this process, and one lock per key so parallel boots probe once.
_verdicts: dict[str, Verdict] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _read_disk(key: str) -> Verdict | None:
    try:
        entry = json.loads(cache_file().read_text()).get(key)
        verdict = Verdict(bool(entry["ok"]), str(entry["why"]), float(entry["at"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return verdict if 0 <= time.time() - verdict.at < VERDICT_TTL else None


def _write_disk(key: str, verdict: Verdict) -> None:
    path = cache_file()
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[key] = {"ok": verdict.ok, "why": verdict.why, "at": verdict.at}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=1)
        tmp.replace(path)
    except OSError:
        pass  # a cache that cannot be written only costs a probe next time


def kvm_verdict(binary: str, cpu: str = "", machine: str = "pc") -> Verdict:
    """KVM's verdict for this host and pool: from this process, else from the
    disk cache while fresh, else from a probe (blocking; call it in a thread)."""
    key = host_key(binary, cpu, machine)
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        verdict = _verdicts.get(key)
        if verdict is None or time.time() - verdict.at >= VERDICT_TTL:
            verdict = _read_disk(key)
            if verdict is None:
                verdict = run_probe(binary, cpu, machine)
                _write_disk(key, verdict)
            _verdicts[key] = verdict
        return verdict


def resolve(requested: str, binary: str = "qemu-system-x86_64", cpu: str = "",
            machine: str = "pc") -> tuple[str, str]:
    """The accelerator to use and a one-line note for the operator (empty if none).
    ``auto`` probes KVM (blocking: see :func:`resolve_accel` for the event loop).

    Raises:
        InfraError: KVM was asked for explicitly and is not available.
    """
    if requested == "tcg":
        return "tcg", ""
    ok, why = kvm_usable()
    if requested == "kvm":
        if ok:
            return "kvm", ""
        raise InfraError(f"KVM is not available: {why} (use accel: tcg or auto)")
    if not ok:
        return "tcg", f"KVM is not available ({why}): using TCG"
    verdict = kvm_verdict(binary, cpu, machine)
    if verdict.ok:
        return "kvm", ""
    return "tcg", f"accel auto: KVM cannot boot here ({verdict.why}): using TCG"


async def resolve_accel(requested: str, binary: str = "qemu-system-x86_64", cpu: str = "",
                        machine: str = "pc") -> tuple[str, str]:
    """:func:`resolve` off the event loop (the probe boots a guest)."""
    if requested == "tcg":
        return "tcg", ""
    return await asyncio.to_thread(resolve, requested, binary, cpu, machine)


def resolve_for_argv(requested: str) -> tuple[str, str]:
    """:func:`resolve` for ``vmtui argv`` (default QEMU, CPU model and machine): the
    note, when there is one, goes to standard error as ``vmtui: ...``."""
    accel, note = resolve(requested)
    if note:
        print(f"vmtui: {note}", file=sys.stderr)
    return accel, note
