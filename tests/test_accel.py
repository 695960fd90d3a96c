"""accel: auto decided by a probe guest under KVM, its verdict cached per host.
The probe's runner is stubbed here; tests/test_accel_real.py runs the real one."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmtui.backends.qemu import accel
from vmtui.backends.qemu.accel import PROBE_EXIT, Verdict
from vmtui.backends.vm.errors import InfraError


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """/dev/kvm opens; the probe is stubbed and its calls recorded; a private cache."""
    monkeypatch.setenv("VMTUI_CACHE", str(tmp_path))
    monkeypatch.setattr(accel, "kvm_usable", lambda: (True, ""))
    monkeypatch.setattr(accel, "_verdicts", {})
    calls: list[str] = []
    yield calls


def stub(monkeypatch: pytest.MonkeyPatch, calls: list[str], ok: bool, why: str = "",
         delay: float = 0.0) -> None:
    def run_probe(binary: str, cpu: str, machine: str) -> Verdict:
        calls.append(f"{binary} {cpu} {machine}")
        time.sleep(delay)
        return Verdict(ok, why, time.time())
    monkeypatch.setattr(accel, "run_probe", run_probe)


def test_kvm_that_boots_is_chosen_and_probed_once(host: list[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    stub(monkeypatch, host, ok=True)
    assert accel.resolve("auto") == ("kvm", "")
    assert accel.resolve("auto") == ("kvm", "")
    assert host == ["qemu-system-x86_64  pc"]  # once in this process
    monkeypatch.setattr(accel, "_verdicts", {})  # a new process: the disk answers
    assert accel.resolve("auto") == ("kvm", "")
    assert len(host) == 1
    [entry] = json.loads(accel.cache_file().read_text()).values()
    assert entry["ok"] is True
    assert accel.cache_file().stat().st_mode & 0o777 == 0o600
    # Another CPU model is another question.
    assert accel.resolve("auto", cpu="max") == ("kvm", "")
    assert host[-1] == "qemu-system-x86_64 max pc"


def test_a_stale_verdict_is_probed_again(host: list[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    stub(monkeypatch, host, ok=True)
    accel.resolve("auto")
    path = accel.cache_file()
    data = json.loads(path.read_text())
    for entry in data.values():
        entry["at"] -= accel.VERDICT_TTL + 1
    path.write_text(json.dumps(data))
    monkeypatch.setattr(accel, "_verdicts", {})
    accel.resolve("auto")
    assert len(host) == 2


def test_kvm_that_cannot_boot_falls_back_with_the_reason(host: list[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    stub(monkeypatch, host, ok=False, why="a KVM test guest stuck before long mode")
    assert accel.resolve("auto") == (
        "tcg", "accel auto: KVM cannot boot here (a KVM test guest stuck before long mode): "
        "using TCG")
    assert accel.resolve("tcg") == ("tcg", "")
    assert accel.resolve("kvm") == ("kvm", "")  # asked for by name: honoured, not probed
    assert len(host) == 1


def test_kvm_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel, "kvm_usable", lambda: (False, "/dev/kvm does not exist"))
    with pytest.raises(InfraError, match=r"^KVM is not available: /dev/kvm does not exist"):
        accel.resolve("kvm")
    assert accel.resolve("auto") == (
        "tcg", "KVM is not available (/dev/kvm does not exist): using TCG")


async def test_the_probe_runs_off_the_event_loop(host: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    stub(monkeypatch, host, ok=True, delay=0.6)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.ensure_future(tick())
    # Two boots at once: one probe, both get its verdict.
    both = await asyncio.gather(accel.resolve_accel("auto"), accel.resolve_accel("auto"))
    ticker.cancel()
    assert both == [("kvm", ""), ("kvm", "")]
    assert len(host) == 1
    assert ticks >= 8  # the loop kept turning while the probe ran


@pytest.mark.parametrize(("status", "serial", "stderr", "why"), [
    (PROBE_EXIT, "PLMRX", "", ""),
    (None, "PLMR", "qemu-system-x86_64: warning: host doesn't support requested feature: "
     "CPUID.01H:ECX.pni [bit 0]\nKVM internal error. Suberror: 1\nextra data[0]: 0x1\n",
     "a KVM test guest stuck before lock cmpxchg16b after 5s: KVM internal error. Suberror: 1"),
    (-6, "", "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n",
     "a KVM test guest stuck before protected mode, status -6: "
     "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69"),
    (None, "", "", "a KVM test guest stuck before protected mode after 5s"),
    (1, "PLMRX", "", "a KVM test guest did not exit, status 1"),
    (PROBE_EXIT, "PL", "", f"a KVM test guest stuck before memory writes, status {PROBE_EXIT}"),
    (None, "\x1b[2J", "\x1b]0;x\x07boom\n",
     "a KVM test guest stuck before protected mode after 5s: ]0;x boom"),
])
def test_the_verdict_names_the_step_and_qemus_words(status: int | None, serial: str,
                                                    stderr: str, why: str) -> None:
    verdict = accel.judge(status, serial, stderr)
    assert verdict.ok is (why == "")
    assert verdict.why == why
