"""`type: isolated`: machines vmtui reaches over SSH but does not start.

The machines are real test guests this module starts itself (tests/boards.py):
serial port on a pty, SSH on a loopback port, ramoops for pstore, and a kernel
that reboots by itself after a panic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.boards import MUX_BREAK, Board, start_board
from tests.helpers import eventually
from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.vm.errors import StateError
from vmtui.backends.vm.state import InstanceState
from vmtui.guest.build import Guest

pytestmark = pytest.mark.guest


@pytest.fixture(scope="module")
def boards(guest: Guest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Board]]:
    links = tmp_path_factory.mktemp("boards")
    started = [start_board(guest, links / f"tty{i}") for i in range(2)]
    try:
        yield started
    finally:
        for board in started:
            board.kill()


def pool(guest: Guest, tmp: Path, boards: list[Board], name: str, **extra: Any) -> Fleet:
    data: dict[str, Any] = {
        "name": name, "type": "isolated", "workdir": str(tmp / "work"),
        "ssh_key": str(guest.ssh_key), "ssh_host_key": str(guest.host_key),
        "boot_timeout": 240, "vm": {"targets": [b.target() for b in boards]}}
    for key, value in extra.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    fleet = Fleet(parse_config(data, file="<test>", base_dir=tmp))
    fleet.watch.after_seconds = 1.0
    return fleet


def lines(fleet: Fleet, name: str, *sources: str) -> list[str]:
    return [text for _, src, text, _ in fleet.record(name).ring.since(0)[0] if src in sources]


async def test_two_machines_under_the_farm_loop(guest: Guest, boards: list[Board],
                                               tmp_path: Path) -> None:
    """Rebooted over SSH at the start (the second boot shows on the serial
    console), a startup script, the workload's output merged, typing and a
    BREAK on the serial line, a crash through /proc over SSH that the machine
    reboots from by itself, and the pstore it kept in the crash's incident."""
    script = tmp_path / "startup.sh"
    script.write_text("#!/bin/sh\necho startup-ran-in-$(pwd)-on-$(hostname)\n")
    fleet = pool(guest, tmp_path, boards, "iso",
                 vm={"target_reboot": True, "pstore": True, "startup_script": str(script)},
                 console={"serial": str(boards[0].link.parent / "tty{index}"),
                          "break_bytes": MUX_BREAK, "max_backoff": 4},
                 workload={"run": "i=0; while true; do i=$((i+1)); echo tick-{index}-$i; "
                                  "sleep 1; done", "restart": "on-crash"})
    assert fleet.config.pool.count == 2  # one instance per target
    await fleet.start()
    try:
        for name in ("iso-0", "iso-1"):
            rec = fleet.record(name)
            assert rec.state is InstanceState.RUNNING, rec.error
            timeline = [t for _, src, t, _ in rec.ring.since(0)[0]]
            asked = next(i for i, t in enumerate(timeline) if "rebooting it (reboot)" in t)
            # The boot vmtui asked for, on the serial console.
            assert any("Linux version" in t for t in timeline[asked:]), timeline[-20:]
            assert any("startup-ran-in-" in t and "vmtui-guest" in t
                       for t in lines(fleet, name, "stdout"))
            await eventually(lambda n=name: any(t.startswith(f"tick-{n[-1]}-")  # type: ignore[misc]
                                                for t in lines(fleet, n, "stdout")), 60)

        # Typing goes to the serial console; a BREAK and t is SysRq t.
        await fleet.write_console("iso-0", b"echo typed-$((6*7))\n")
        await eventually(lambda: "typed-42" in lines(fleet, "iso-0", "serial"), 60)
        done = await fleet.diagnose("iso-0", "sysrq-t")
        assert done.sections["sysrq t"] == "sent via break_bytes"
        await eventually(lambda: any("sysrq: Show State" in t
                                     for t in lines(fleet, "iso-0", "serial")), 60)
        with pytest.raises(StateError, match="cannot stop its CPUs"):
            await fleet.diagnose("iso-0", "registers")

        # A crash through /proc over SSH; the kernel (panic=-1) reboots by itself.
        rec = fleet.record("iso-1")
        boots = rec.counters.boots
        await fleet.diagnose("iso-1", "sysrq-c", via="proc")
        await eventually(lambda: rec.counters.crashes == 1, 60)
        incident = next(i for i in fleet.incidents if i.kind == "crash")
        assert incident.title == "kernel panic: sysrq triggered crash"
        await eventually(lambda: rec.counters.boots == boots + 1
                         and rec.state is InstanceState.RUNNING, 240)
        notes = lines(fleet, "iso-1", "vmtui")
        assert any("it rebooted by itself" in t for t in notes), notes[-10:]
        await eventually(lambda: "pstore-dmesg-ramoops-0" in incident.files, 60)
        assert "sysrq triggered crash" in incident.read("pstore-dmesg-ramoops-0")
        assert "not available" in incident.read("registers.txt")
        assert incident.read("machine.txt").startswith("Machine: root@127.0.0.1:")
        # Rounds go on after the restart; the other machine was left alone.
        ticks = len(lines(fleet, "iso-1", "stdout"))
        await eventually(lambda: len(lines(fleet, "iso-1", "stdout")) > ticks + 2, 60)
        assert fleet.record("iso-0").counters.boots == 1
        assert fleet.record("iso-0").state is InstanceState.RUNNING
    finally:
        await fleet.close()
    assert (rec.workdir / "console.log").read_text(errors="replace").count("Linux version") >= 2


async def test_ssh_console_drops_what_a_restart_replays(guest: Guest, boards: list[Board],
                                                        tmp_path: Path) -> None:
    """`console: {ssh: dmesg -w}`: a line written to /dev/kmsg shows tagged ssh;
    a restart in the same boot replays nothing; after a reboot, still nothing twice."""
    fleet = pool(guest, tmp_path, boards[1:], "one",
                 console={"ssh": "/bin/dmesg -w", "max_backoff": 4})
    await fleet.start()
    try:
        assert fleet.record("one-0").state is InstanceState.RUNNING, fleet.record("one-0").error
        guest_ssh = fleet.guest("one-0")
        await guest_ssh.run("echo vmtui-mark-1 > /dev/kmsg")
        await eventually(lambda: any("vmtui-mark-1" in t for t in lines(fleet, "one-0", "ssh")),
                         60)
        # The command ends and starts again in the same boot: it replays the ring.
        await guest_ssh.run("killall dmesg")
        await eventually(lambda: any("starting it again" in t
                                     for t in lines(fleet, "one-0", "vmtui")), 30)
        await guest_ssh.run("echo vmtui-mark-2 > /dev/kmsg")
        await eventually(lambda: any("vmtui-mark-2" in t for t in lines(fleet, "one-0", "ssh")),
                         60)
        first_boot = lines(fleet, "one-0", "ssh")
        assert len(first_boot) == len(set(first_boot)), "a line came twice in one boot"
        # A reboot: the connection drops, the command starts again in the new boot.
        await guest_ssh.run("reboot")
        await eventually(lambda: sum("Linux version" in t
                                     for t in lines(fleet, "one-0", "ssh")) == 2, 240)
        await asyncio.sleep(3)
        ssh = lines(fleet, "one-0", "ssh")
        assert sum("vmtui-mark-1" in t for t in ssh) == 1
        second_boot = ssh[len(first_boot):]
        assert len(second_boot) == len(set(second_boot)), "a line came twice in one boot"
    finally:
        await fleet.close()


async def test_ddb_sequence_is_typed_on_the_serial_line(guest: Guest, boards: list[Board],
                                                        tmp_path: Path) -> None:
    """A BSD pool's ddb sequence goes to the serial console when the machine has
    no console of its own (the board's shell echoes what arrives)."""
    fleet = pool(guest, tmp_path, boards[1:], "bsd", target="openbsd/amd64",
                 console={"serial": str(boards[1].link), "break_bytes": MUX_BREAK})
    await fleet.start()
    try:
        assert fleet.record("bsd-0").state is InstanceState.RUNNING, fleet.record("bsd-0").error
        await eventually(lambda: "serial" in fleet.record("bsd-0").console_inputs(), 30)
        done = await fleet.diagnose("bsd-0", "ddb", pace=0.3)
        assert "show all pools" in done.sections["ddb"]
        await eventually(lambda: any("show all pools" in t
                                     for t in lines(fleet, "bsd-0", "serial")), 60)
    finally:
        await fleet.close()
