"""accel: auto on this host, for real: the KVM probe's verdict agrees with what the
test guest's own kernel does under KVM, and a pool asking for auto boots, with the
reason on its console when it fell back to TCG."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import guest_config
from vmtui.backends.console.ring import TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.qemu import accel
from vmtui.backends.vm.state import InstanceState
from vmtui.demo import demo_dict
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No verdict from earlier: this process probes for real."""
    monkeypatch.setenv("VMTUI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(accel, "_verdicts", {})


def kernel_prints_under_kvm(guest: Guest, seconds: float = 15.0) -> bool:
    """Whether the test guest's kernel prints its first console line under KVM."""
    argv = ["qemu-system-x86_64", "-M", "pc", "-accel", "kvm", "-m", "256", "-nodefaults",
            "-display", "none", "-no-reboot", "-serial", "stdio", "-kernel", str(guest.kernel),
            "-append", "console=ttyS0 earlyprintk=ttyS0 panic=-1"]
    try:
        out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=seconds).stdout
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or b""
    return b"Linux version" in out


def test_the_probe_agrees_with_the_guest_kernel(guest: Guest, fresh: None) -> None:
    start = time.monotonic()
    verdict = accel.kvm_verdict("qemu-system-x86_64")
    took = time.monotonic() - start
    print(f"KVM probe: ok={verdict.ok} in {took:.1f}s: {verdict.why}")
    assert took < accel.PROBE_TIMEOUT + 3
    assert verdict.ok == kernel_prints_under_kvm(guest), verdict.why
    assert verdict.ok or verdict.why.startswith("a KVM test guest ")


async def test_a_pool_asking_for_auto_boots(guest: Guest, workdir: Path, fresh: None) -> None:
    fleet = Fleet(guest_config(guest, workdir, name="auto", accel="auto"))
    try:
        await asyncio.wait_for(fleet.start(), 150)
        snap = fleet.snapshot()[0]
        assert snap.state is InstanceState.RUNNING, snap.error
        lines = [line[TEXT] for line in fleet.console("auto-0").tail(100000)]
        notes = [ln for ln in lines if "accel auto" in ln]
        facts = dict(fleet.record("auto-0").instance.facts())  # type: ignore[union-attr]
        verdict = accel.kvm_verdict("qemu-system-x86_64")
    finally:
        await fleet.close()
    print(f"accel auto: {facts['Accelerator']}; {notes}")
    if verdict.ok:
        assert facts["Accelerator"] == "kvm" and notes == []
    else:
        assert facts["Accelerator"] == "tcg"
        assert notes == [f"[vmtui] accel auto: KVM cannot boot here ({verdict.why}): using TCG"]


def test_argv_shows_the_accelerator_auto_gets(guest: Guest, tmp_path: Path, fresh: None) -> None:
    import yaml

    data = demo_dict(guest, count=1, workdir=tmp_path)
    data["vm"]["accel"] = "auto"
    config = tmp_path / "pool.yaml"
    config.write_text(yaml.safe_dump(data))
    done = subprocess.run([sys.executable, "-m", "vmtui", "argv", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    args = done.stdout.splitlines()
    verdict = accel.kvm_verdict("qemu-system-x86_64")  # from the cache argv wrote
    chosen = args[args.index("-accel") + 1]
    if verdict.ok:
        assert chosen == "kvm"
    else:
        assert chosen == "tcg"
        assert done.stderr == f"vmtui: accel auto: KVM cannot boot here ({verdict.why}): " \
                              "using TCG\n"
