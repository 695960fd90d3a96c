"""The stuck-vCPU detector's parts without QEMU: the registers parser, the symbol
table and its rebasing, the detector's rule sample by sample, and the sampler
in a fleet of the scripted type (its verdict, its incident, its silences).
The real guest's proofs are in test_stuck_vcpu_real.py."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import eventually
from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.inspection import inspect
from vmtui.backends.monitor import kallsyms
from vmtui.backends.monitor.symbols import (
    SymbolsError,
    parse_kallsyms,
    parse_module_symbols,
    parse_system_map,
    text_address,
)
from vmtui.backends.monitor.vcpus import StuckDetector, VcpuSample, parse_registers, task_of
from vmtui.backends.scripted import ScriptedInstance
from vmtui.backends.vm.state import InstanceState

# The shape of QEMU 7.2's `info registers -a` (two vCPUs, trimmed), as read from a guest.
REGISTERS = """
CPU#0
RAX=0000000000000001 RBX=ffff8e1cc1442dc0 RCX=ffff8e1cc12dcf28 RDX=0000000000000001
RIP=ffffffffa6618710 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0
CR0=80050033 CR2=00007ffed99ce054 CR3=0000000003858000 CR4=000006b0

CPU#1
RAX=00000000000008fd RBX=0000000000000082 RCX=0000000000000000 RDX=00000000000008fb
RIP=00007f6d092c2740 RFL=00000246 [---Z-P-] CPL=3 II=0 A20=1 SMM=0 HLT=0
CR0=80050033 CR2=00007f6d092c3068
"""

# A kernel linked at ffffffff81000000 and booted 0x24c00000 higher (KASLR).
BASE = 0xffffffffa5c00000
KALLSYMS = """0000000000000000 A fixed_percpu_data
ffffffffa5c00000 T _text
ffffffffa5c00000 T startup_64
ffffffffa6617a00 T native_safe_halt
ffffffffa6617a10 t default_idle
ffffffffa6618700 T spin_forever
ffffffffa6618780 T after_spin
ffffffffa6700000 D some_data
ffffffffc0474070 t vmtui_crash_irqspin\t[vmtui_crash]
ffffffffc04740c0 t vmtui_crash_hang\t[vmtui_crash]
"""
SYSTEM_MAP = "\n".join(
    f"{int(line.split()[0], 16) - BASE + 0xffffffff81000000:016x} {' '.join(line.split()[1:])}"
    for line in KALLSYMS.splitlines()[1:8])


def test_registers_of_every_vcpu() -> None:
    assert parse_registers(REGISTERS) == [
        VcpuSample(0, 0xffffffffa6618710, 0, False),
        VcpuSample(1, 0x00007f6d092c2740, 3, False)]
    with pytest.raises(ValueError, match=re.escape("no RIP=... CPL=... HLT=... line")):
        parse_registers("Error: no such vCPU")


def test_kallsyms_and_system_map_agree_once_rebased() -> None:
    symbols = parse_kallsyms(KALLSYMS)
    assert str(symbols.lookup(0xffffffffa6618710)) == "spin_forever+0x10/0x80"
    assert symbols.describe(0xffffffffa6617a0b) == "native_safe_halt+0xb/0x10"
    assert symbols.lookup(0xffffffffa5b00000) is None  # below the kernel
    assert symbols.describe(0xffffffffc0474080) == "ffffffffc0474080"  # a module's: not yet
    modules = parse_module_symbols(KALLSYMS)
    with_modules = symbols.with_modules(modules)
    assert str(with_modules.lookup(0xffffffffc04740b8)) == \
        "vmtui_crash_irqspin+0x48/0x50 [vmtui_crash]"
    # The same kernel from its System.map, moved to where this boot put _text.
    linked = parse_system_map(SYSTEM_MAP)
    assert linked.base == 0xffffffff81000000
    assert linked.describe(0xffffffff81a18710) == "spin_forever+0x10/0x80"
    rebased = linked.at(text_address("ffffffffa5c00000 T _text\n"))
    assert rebased.describe(0xffffffffa6618710) == "spin_forever+0x10/0x80"
    # Another boot of the same kernel: only _text moved.
    assert symbols.at(BASE + 0x200000).describe(0xffffffffa6818710) == "spin_forever+0x10/0x80"


@pytest.mark.parametrize("text, error", [
    ("0000000000000000 T _text\n0000000000000000 T startup_64\n", "addresses are hidden"),
    ("ffffffff81000000 T startup_64\n", "no _text symbol"),
    ("ffffffff81000000 D _text\nffffffff81100000 D data\n", "no code symbols"),
])
def test_unusable_tables_say_why(text: str, error: str) -> None:
    with pytest.raises(SymbolsError, match=error):
        parse_kallsyms(text)


def test_debians_placeholder_system_map_is_refused_saying_what_it_is() -> None:
    # What linux-image-*-cloud-amd64 ships as /boot/System.map-*: the real one is in -dbg.
    placeholder = "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg " \
                  "package\n"
    with pytest.raises(SymbolsError, match=r"it begins .*The real System\.map is in"):
        parse_system_map(placeholder)


def test_a_hidden_text_line_names_kptr_restrict() -> None:
    with pytest.raises(SymbolsError, match="kptr_restrict"):
        text_address("0000000000000000 T _text")


def run(rows: list[list[tuple[int, int, bool]]], k: int = 3, symbols: Any = "kallsyms"
        ) -> str | None:
    """Feed one sample per row (each row: every vCPU's RIP, CPL, halted); the title."""
    table = parse_kallsyms(KALLSYMS) if symbols == "kallsyms" else symbols
    detector = StuckDetector(k)
    for t, row in enumerate(rows):
        vcpus = [VcpuSample(cpu, rip, cpl, halted) for cpu, (rip, cpl, halted) in enumerate(row)]
        if (verdict := detector.feed(float(t), vcpus, table)) is not None:
            return verdict.title
    return None


SPIN = (0xffffffffa6618710, 0, False)
SPIN2 = (0xffffffffa6618740, 0, False)  # elsewhere in the same function
AFTER = (0xffffffffa6618790, 0, False)  # the next function
IDLE = (0xffffffffa6617a0b, 0, True)
USER = (0x00007f6d092c2740, 3, False)


@pytest.mark.parametrize("rows, k, want", [
    ([[SPIN]] * 3, 3, "vCPU 0 stuck in spin_forever"),
    ([[SPIN], [SPIN2], [SPIN]], 3, "vCPU 0 stuck in spin_forever"),  # one function
    ([[SPIN]] * 2, 3, None),  # K-1 samples
    ([[SPIN], [SPIN], [IDLE], [SPIN], [SPIN]], 3, None),  # it halted between
    ([[SPIN], [AFTER], [SPIN], [AFTER]], 3, None),  # busy in the kernel, moving
    ([[USER]] * 10, 3, None),  # busy in user space
    ([[IDLE]] * 10, 3, None),  # idle
    ([[IDLE, SPIN]] * 5, 5, "vCPU 1 stuck in spin_forever"),
    ([[SPIN, AFTER], [SPIN, AFTER], [AFTER, AFTER]], 3, "vCPU 1 stuck in after_spin"),
])
def test_the_rule_sample_by_sample(rows: list[list[tuple[int, int, bool]]], k: int,
                                   want: str | None) -> None:
    assert run(rows, k) == want


def test_without_symbols_a_page_stands_for_the_function() -> None:
    assert run([[SPIN], [SPIN2], [SPIN]], symbols=None) == \
        "vCPU 0 stuck in kernel code at ffffffffa6618000 (no symbols)"
    far = (SPIN[0] + 0x1000, 0, False)
    assert run([[SPIN], [far], [SPIN]], symbols=None) is None


def test_the_console_speaking_resets_the_count() -> None:
    detector, table = StuckDetector(3), parse_kallsyms(KALLSYMS)
    spin = [VcpuSample(0, *SPIN)]
    assert detector.feed(0, spin, table) is None and detector.feed(1, spin, table) is None
    detector.reset()
    assert detector.feed(2, spin, table) is None and detector.feed(3, spin, table) is None
    assert detector.feed(4, spin, table) is not None
    with pytest.raises(ValueError, match="at least 2"):
        StuckDetector(1)


def test_what_the_registers_say_of_the_task() -> None:
    assert task_of(VcpuSample(1, IDLE[0], 0, True)) == "swapper/1 (idle)"
    assert task_of(VcpuSample(0, USER[0], 3, False)) == "a user task"
    assert "vmcore" in task_of(VcpuSample(0, SPIN[0], 0, False))


def scripted_fleet(tmp: Path, samples: int = 3) -> Fleet:
    data = {"name": "s", "type": "scripted", "count": 1, "workdir": str(tmp),
            "vm": {"lines": ["booted"]}, "stuck_vcpu_samples": samples,
            "stuck_vcpu_period": 0.1}
    fleet = Fleet(parse_config(data, file="<test>", base_dir=tmp))
    fleet.watch.after_seconds = 0.05
    return fleet


def answer_kallsyms(inst: ScriptedInstance) -> None:
    inst.guest.reads = {
        kallsyms.HEAD_READ: b"Linux version 6.1.0-test (scripted)\n"
                         b"ffffffffa5c00000 T _text\n",
        kallsyms.KERNEL_READ: KALLSYMS.encode(), kallsyms.MODULES_READ: b"vmtui_crash 16384\n",
        kallsyms.MODULE_SYMBOLS_READ: KALLSYMS.encode()}


async def test_the_sampler_files_a_verdict_with_its_samples(tmp_path: Path) -> None:
    fleet = scripted_fleet(tmp_path)
    kallsyms.KERNELS.clear()
    await fleet.start()
    try:
        inst = fleet.instance("s-0")
        assert isinstance(inst, ScriptedInstance)
        rec = fleet.record("s-0")
        answer_kallsyms(inst)
        await eventually(lambda: rec.symbols is not None, 5, "symbols read")
        table = await inspect(rec, "cpus")
        assert table.rows[1][2:] == ("ffffffff81000010", "0", "yes", "swapper/1 (idle)")
        inst.vcpus[1] = (0xffffffffc04740b8, 0, False)  # in the module, CPL 0, running
        await fleet.wait_state("s-0", InstanceState.CRASHED, timeout=5)
        assert rec.title == "vCPU 1 stuck in vmtui_crash_irqspin"
        await fleet.watch.settle()
        [incident] = fleet.incidents
        assert incident.kind == "verdict" and incident.complete
        text = (incident.folder / "diagnosis.txt").read_text()
        assert text.startswith("== stuck vCPU ==\nvCPU 1: CPL 0, not halted, inside "
                               "vmtui_crash_irqspin for 3 samples")
        assert text.count("vmtui_crash_irqspin+0x48/0x50 [vmtui_crash]") >= 3
        assert "== registers cpu 1 ==" in text  # the diagnose that follows a verdict
        assert [c.title for c in fleet.crashes.all()] == [rec.title]
    finally:
        await fleet.close()


async def test_no_verdict_while_the_console_speaks_or_the_vm_is_paused(
        tmp_path: Path) -> None:
    fleet = scripted_fleet(tmp_path)
    await fleet.start()
    try:
        inst = fleet.instance("s-0")
        assert isinstance(inst, ScriptedInstance)
        rec = fleet.record("s-0")
        detector = fleet.stuck.detectors["s-0"]
        inst.vcpus[0] = (0xffffffffa6618710, 0, False)
        for _ in range(40):  # 0.8 s of a chatty console: never silent for a period
            await inst.write_console(b"still here\r")
            await asyncio.sleep(0.02)
        assert fleet.snapshot()[0].state is InstanceState.RUNNING and detector.taken == 0
        await fleet.pause("s-0")
        await fleet.wait_state("s-0", InstanceState.PAUSED, timeout=5)
        await asyncio.sleep(0.5)
        assert rec.state is InstanceState.PAUSED and detector.taken == 0
        await fleet.resume("s-0")  # silent and spinning: now it is stuck
        await fleet.wait_state("s-0", InstanceState.CRASHED, timeout=5)
        assert rec.title.startswith("vCPU 0 stuck in kernel code at ")  # no kallsyms here
    finally:
        await fleet.close()


async def test_the_cpus_tab_reads_the_symbols_itself_when_nothing_samples(
        tmp_path: Path) -> None:
    fleet = scripted_fleet(tmp_path, samples=0)  # no sampler in this pool
    kallsyms.KERNELS.clear()
    await fleet.start()
    try:
        inst = fleet.instance("s-0")
        assert isinstance(inst, ScriptedInstance)
        rec = fleet.record("s-0")
        assert fleet.stuck.detectors == {}
        answer_kallsyms(inst)
        inst.vcpus = [(0xffffffffa6617a0b, 0, True), (0x00007f6d092c2740, 3, False)]
        table = await inspect(rec, "cpus")
        assert [row[2:] for row in table.rows] == [
            ("native_safe_halt+0xb/0x10", "0", "yes", "swapper/0 (idle)"),
            ("00007f6d092c2740", "3", "no", "a user task")]
        inst.guest.reads = {}  # asked once per boot: no second read
        assert (await inspect(rec, "cpus")).rows[0][2] == "native_safe_halt+0xb/0x10"
    finally:
        await fleet.close()
