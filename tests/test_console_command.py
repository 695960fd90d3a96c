"""`console: {command: ...}`: a local command's output as a console source, tagged
`command`, checked for crashes, restarted with backoff when it exits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import eventually
from vmtui.backends.config.pool import parse_config
from vmtui.backends.config.schema import ConfigError
from vmtui.backends.console import sources as consolesrc
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.vm.errors import StateError
from vmtui.backends.vm.state import InstanceState


def config(tmp_path: Path, command: str, **console: Any) -> Any:
    data = {"name": "cc", "type": "scripted", "count": 1, "workdir": str(tmp_path),
            "vm": {"lines": ["boot"]}, "console": {"command": command, **console}}
    return parse_config(data, file="<test>", base_dir=tmp_path)


def lines(fleet: Fleet, source: str) -> list[str]:
    return [text for _, src, text, _ in fleet.record("cc-0").ring.since(0)[0] if src == source]


async def test_a_command_that_exits_is_started_again(tmp_path: Path) -> None:
    fleet = Fleet(config(tmp_path, "sh -c 'echo from {name} {index}; exit 3'",
                         backoff=0.05, max_backoff=0.2))
    await fleet.start()
    try:
        await eventually(lambda: lines(fleet, "command").count("from cc-0 0") >= 3, 10)
        notes = lines(fleet, "vmtui")
        assert any(n.startswith("console command ended (status 3); starting it again in")
                   for n in notes)
        assert "again in 0.2s" in "\n".join(notes)  # the pause doubled up to max_backoff
        assert fleet.record("cc-0").state is InstanceState.RUNNING
    finally:
        await fleet.close()
    assert "from cc-0 0" in (fleet.record("cc-0").console_log.read_text())


async def test_a_crash_on_the_command_console_is_detected(tmp_path: Path) -> None:
    fleet = Fleet(config(tmp_path, "sh -c 'sleep 0.2; echo \"[ 5.1] Kernel panic - not "
                                   "syncing: from the serial line\"; sleep 30'"))
    fleet.watch.after_seconds = 0
    await fleet.start()
    try:
        await fleet.wait_state("cc-0", InstanceState.CRASHED, timeout=10)
        assert fleet.record("cc-0").title == "kernel panic: from the serial line"
    finally:
        await fleet.close()


def test_a_broken_command_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"console\.command: No closing quotation"):
        config(tmp_path, "sh -c 'unterminated")


async def test_a_missing_serial_device_is_tried_again(tmp_path: Path) -> None:
    data = {"name": "cc", "type": "scripted", "count": 1, "workdir": str(tmp_path),
            "vm": {"lines": ["boot"]},
            "console": {"serial": "/dev/vmtui-no-such-tty{index}", "backoff": 0.05}}
    fleet = Fleet(parse_config(data, file="<test>", base_dir=tmp_path))
    await fleet.start()
    try:
        await eventually(lambda: sum("serial console /dev/vmtui-no-such-tty0: cannot open it"
                                     in n for n in lines(fleet, "vmtui")) >= 2, 10)
        assert fleet.record("cc-0").state is InstanceState.RUNNING
    finally:
        await fleet.close()


async def test_typing_and_a_break_go_to_the_command(tmp_path: Path) -> None:
    """An open source is an input: bytes reach the command's stdin, and a BREAK is
    ``break_bytes`` (ipmitool SOL's ~B) followed by the SysRq letter."""
    fleet = Fleet(config(tmp_path, "cat", break_bytes="~B"))
    await fleet.start()
    try:
        rec = fleet.record("cc-0")
        await eventually(lambda: "command" in rec.console_inputs(), 10)
        await consolesrc.console_input(rec.console_inputs(), rec.name).write(b"typed\n")
        assert await consolesrc.sysrq(rec.console_inputs(), rec.name, "t") == "break_bytes"
        await consolesrc.console_input(rec.console_inputs(), rec.name).write(b"\n")
        await eventually(lambda: lines(fleet, "command") == ["typed", "~Bt"], 10)
        # A restart ends the old source: one command runs, not two.
        first = rec.console
        await fleet.restart("cc-0")
        await eventually(lambda: "command" in rec.console_inputs(), 10)
        assert first is not None and first.sources == [] and first.inputs == {}
        assert rec.console is not None and rec.console is not first
        assert len(rec.console.sources) == 1 and not rec.console.sources[0].done()
    finally:
        await fleet.close()
    assert rec.console is None and rec.console_inputs() == {}


async def test_no_source_that_takes_a_break(tmp_path: Path) -> None:
    fleet = Fleet(config(tmp_path, "cat"))
    await fleet.start()
    try:
        rec = fleet.record("cc-0")
        await eventually(lambda: "command" in rec.console_inputs(), 10)
        with pytest.raises(StateError, match="no console source that takes a BREAK"):
            await consolesrc.sysrq(rec.console_inputs(), rec.name, "t")
    finally:
        await fleet.close()
