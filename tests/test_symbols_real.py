"""Symbols on a real guest: the crash module's Oops symbolised in the incident
(vmtui_crash.c:LINE, kernel files, inlined frames, the guilty file), in crashes/
and by ``vmtui report --vmlinux``; then Hold + gdb on that guest, run in batch
mode with the command vmtui shows, gives a backtrace with file:line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet import incidents
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import QemuInstance
from vmtui.backends.vm.state import InstanceState
from vmtui.demo import demo_dict
from vmtui.guest import crashmod, debugsyms
from vmtui.guest.build import Guest, build
from vmtui.guest.crashmod import CRASH_MODULE

pytestmark = pytest.mark.guest
NAME = "sym-0"
NULL_LINE = next(i for i, line in enumerate(
    crashmod.source("vmtui_crash.c").decode().splitlines(), 1) if "*vmtui_null = 1;" in line)


@pytest.fixture(scope="module")
def debug_guest() -> Guest:
    """The test guest with its kernel's debug symbols (bootstrap fetches them)."""
    return build(debug=True)


@pytest_asyncio.fixture(scope="module")
async def crashed(debug_guest: Guest, tmp_path_factory: pytest.TempPathFactory
                  ) -> AsyncIterator[Fleet]:
    """A guest whose shell died of the crash module's NULL dereference (the kernel lives)."""
    vmlinux, _ = debugsyms.paths(debug_guest.dir)
    workdir = tmp_path_factory.mktemp("sym")
    data = demo_dict(debug_guest, count=1, workdir=workdir)
    data.update(name="sym", vmlinux=str(vmlinux),
                kernel_modules=[str(debug_guest.dir / crashmod.DEBUG_KO)])
    fleet = Fleet(parse_config(data, file="<test>", base_dir=workdir))
    fleet.watch.after_seconds = 2.0
    idle, incidents.SYMBOLS_IDLE = incidents.SYMBOLS_IDLE, 3.0  # addr2line ends sooner
    await asyncio.wait_for(fleet.start(), 150)
    shell = fleet.guest(NAME)
    # qemu_fw_cfg is loaded at boot (a memory dump then carries VMCOREINFO).
    fw_cfg = await shell.run("grep -w qemu_fw_cfg /proc/modules", timeout=30)
    assert fw_cfg.status == 0 and fw_cfg.stdout.startswith(b"qemu_fw_cfg "), fw_cfg
    loaded = await shell.run(f"insmod {CRASH_MODULE}", timeout=30)
    assert loaded.status == 0, loaded.describe()
    writer = asyncio.ensure_future(shell.run("echo null > /proc/vmtui_crash", timeout=60))
    try:
        await fleet.wait_state(NAME, InstanceState.CRASHED, timeout=60)
        await asyncio.wait_for(fleet.watch.settle(), 120)
        yield fleet
    finally:
        writer.cancel()
        with contextlib.suppress(BaseException):
            await writer
        await fleet.close()
        incidents.SYMBOLS_IDLE = idle


async def test_the_oops_is_symbolised_everywhere(crashed: Fleet, debug_guest: Guest) -> None:
    [incident] = crashed.incidents
    report = (incident.folder / "report.txt").read_text()
    # The faulting line of the module, the module's caller, kernel files, an inlined frame.
    assert re.search(rf"RIP: 0010:vmtui_crash_null\+0x[0-9a-f]+/0x[0-9a-f]+ "
                     rf"vmtui_crash\.c:{NULL_LINE} \[vmtui_crash\]", report), report
    assert re.search(r" vmtui_crash_write\S* vmtui_crash\.c:\d+ \[vmtui_crash\]", report)
    assert re.search(r" ksys_write\+0x[0-9a-f]+/0x[0-9a-f]+ fs/read_write\.c:\d+\n", report)
    assert re.search(r"\n +\S+ \S+\.[ch]:\d+ \[inline\]\n", report), report
    assert "guilty file: vmtui_crash.c\n" in report
    summary = json.loads((incident.folder / "summary.json").read_text())
    assert summary["report"]["guilty_file"] == "vmtui_crash.c"
    # The crash as filed in crashes/ (what the Crashes screen shows) is symbolised too.
    [saved_file] = (incident.folder / "crash").glob("report*")
    saved = saved_file.read_text()
    assert f"vmtui_crash.c:{NULL_LINE} [vmtui_crash]" in saved

    # vmtui report on the boot's console log saved beside it, with the same files.
    vmlinux, _ = debugsyms.paths(debug_guest.dir)
    [log] = (incident.folder / "crash").glob("log*")
    done = subprocess.run(
        [sys.executable, "-m", "vmtui", "report", str(log),
         "--json", "--vmlinux", str(vmlinux), "--module",
         str(debug_guest.dir / crashmod.DEBUG_KO)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr  # 1: a report was found
    [found] = json.loads(done.stdout)
    assert found["guilty_file"] == "vmtui_crash.c"
    assert f"vmtui_crash.c:{NULL_LINE} [vmtui_crash]" in found["text"]
    # The pool's addr2line (hundreds of MB) ends once unused for SYMBOLS_IDLE.
    for _ in range(100):
        if crashed.watch.writer._symbolizer is None:
            break
        await asyncio.sleep(0.1)
    assert crashed.watch.writer._symbolizer is None


async def test_gdb_from_hold_knows_the_kernel(crashed: Fleet, debug_guest: Guest) -> None:
    # Where jiffies is in the running kernel (KASLR moved it), asked before gdb stops it.
    asked = await crashed.guest(NAME).run("grep ' jiffies$' /proc/kallsyms", timeout=30)
    jiffies = int(asked.stdout.split()[0], 16)
    command = await crashed.hold(NAME)
    try:
        vmlinux, _ = debugsyms.paths(debug_guest.dir)
        assert f'eval "symbol-file -o %#llx {vmlinux}"' in command, command
        argv = shlex.split(command)
        argv[1:1] = ["-batch", "-nx"]
        argv += ["-ex", "bt", "-ex", "info threads", "-ex", "p jiffies",
                 "-ex", "info address jiffies"]
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                       timeout=240, check=False)
        out = done.stdout
        print(out[-3000:], done.stderr[-2000:])
        # The offset gdb computed from the IDT puts jiffies where the kernel has it.
        assert f"is static storage at address {jiffies:#x}." in out, (hex(jiffies), out)
        # A symbolised backtrace: frame 0 in a named kernel function at file:line.
        assert re.search(r"^#0 +(?:0x[0-9a-f]+ in )?\w+ \(.*\) at [\w/.-]+\.[chS]:\d+$",
                         out, re.M), out
        assert re.search(r"^\$1 = \d+$", out, re.M), out  # p jiffies
        assert re.search(r"Thread 1\.1 .* in \w+", out), out  # info threads, named
    finally:
        await crashed.release(NAME)
        inst = crashed.instance(NAME)
        assert isinstance(inst, QemuInstance)
        await inst.domain.cont()  # gdb stopped the vCPUs


async def test_gdb_on_a_panicked_guest(crashed: Fleet) -> None:
    """pvpanic pauses a panicked guest before x86 prints its "Kernel Offset:" line,
    and SSH cannot answer: gdb finds the offset in the IDT, and its backtrace shows
    where and why the kernel panicked."""
    inst = crashed.instance(NAME)
    assert isinstance(inst, QemuInstance)
    panicker = asyncio.ensure_future(
        crashed.guest(NAME).run("echo c > /proc/sysrq-trigger", timeout=60))
    try:
        for _ in range(300):
            if (await inst.domain.status()).status == "guest-panicked":
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the guest did not panic")
        command = await crashed.hold(NAME)
        assert 'eval "symbol-file -o %#llx ' in command, command
        argv = shlex.split(command)
        argv[1:1] = ["-batch", "-nx"]
        argv += ["-ex", "bt"]
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                       timeout=240, check=False)
        print(done.stdout[-3000:])
        # Stopped in pvpanic's notifier (a module gdb has no symbols for), called
        # from panic(), whose argument gdb reads from the kernel's memory.
        assert re.search(r" in panic \(fmt=0x[0-9a-f]+ \"sysrq triggered crash\\n\"\) "
                         r"at kernel/panic\.c:\d+$", done.stdout, re.M), done.stdout
        assert re.search(r" atomic_notifier_call_chain \(.*panic_notifier_list.*\) at "
                         r"kernel/notifier\.c:\d+$", done.stdout, re.M), done.stdout
    finally:
        panicker.cancel()
        with contextlib.suppress(BaseException):
            await panicker
        await crashed.release(NAME)
