"""The isolated type's config, and the ssh console's replay filter (no machines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncssh
import pytest
import yaml

from vmtui.backends.config.pool import parse_config
from vmtui.backends.config.schema import ConfigError
from vmtui.backends.console.ssh_source import Replayed
from vmtui.backends.isolated.config import Target, parse_target


def load(tmp_path: Path, vm: dict[str, Any], **pool: Any) -> Any:
    data = {"name": "iso", "type": "isolated", "workdir": str(tmp_path), "vm": vm, **pool}
    return parse_config(data, file="<test>", base_dir=tmp_path)


@pytest.mark.parametrize(("text", "target"), [
    ("root@10.0.0.5:2222", Target("10.0.0.5", 2222, "root")),
    ("board7", Target("board7", 22, "")),
    ("me@[fe80::1]:22", Target("fe80::1", 22, "me")),
])
def test_targets_parse(text: str, target: Target) -> None:
    assert parse_target(text) == target


def test_count_comes_from_the_targets(tmp_path: Path) -> None:
    cfg = load(tmp_path, {"targets": ["a:22", "b:22", "c:22"]})
    assert cfg.pool.count == 3
    assert cfg.vm.target(2) == Target("c", 22, "")


@pytest.mark.parametrize(("vm", "pool", "message"), [
    ({"targets": []}, {}, "vm.targets: list at least one machine"),
    ({"targets": ["root@host:99999"]}, {}, "vm.targets[0]: 'root@host:99999': port "
                                           "99999 is not between 1 and 65535"),
    ({"targets": ["a b"]}, {}, "vm.targets[0]: 'a b' is not user@host:port"),
    ({"targets": ["a:22", "a"]}, {}, "vm.targets[1]: 'a' is listed twice"),
    ({"targets": ["a", "b"]}, {"count": 3}, "count: 3, but vm.targets lists 2 machine(s): "
                                            "leave count out or make it 2"),
    ({"targets": ["a"], "target_dir": "/"}, {}, "vm.target_dir: '/' must be an absolute path"),
    ({"targets": ["a"], "target_dir": "tmp"}, {}, "vm.target_dir: 'tmp' must be an absolute"),
    ({"targets": ["a"], "startup_script": "nope.sh"}, {}, "vm.startup_script:"),
])
def test_bad_isolated_config(tmp_path: Path, vm: dict[str, Any], pool: dict[str, Any],
                             message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, vm, **pool)
    assert message in str(info.value)


def test_a_restart_in_the_same_boot_replays_nothing() -> None:
    seen = Replayed()
    seen.new_run("boot-1")
    assert [seen.is_new(x) for x in (b"a", b"b", b"c")] == [True, True, True]
    seen.new_run("boot-1")  # dmesg -w again: the ring first, then what is new
    assert [seen.is_new(x) for x in (b"a", b"b", b"c", b"d", b"a")] == [
        False, False, False, True, True]


def test_a_replay_from_a_ring_that_moved_on() -> None:
    seen = Replayed()
    seen.new_run("boot-1")
    for x in (b"1", b"2", b"3", b"4"):
        seen.is_new(x)
    seen.new_run("boot-1")  # the ring dropped 1 and 2 meanwhile
    assert [seen.is_new(x) for x in (b"3", b"4", b"5")] == [False, False, True]


def test_a_new_boot_is_all_new() -> None:
    seen = Replayed()
    seen.new_run("boot-1")
    seen.is_new(b"Linux version 6.1")
    seen.new_run("boot-2")
    assert seen.is_new(b"Linux version 6.1")


def test_the_readme_example_is_a_valid_config(tmp_path: Path) -> None:
    """The isolated pool in the README loads (its key and script files made here)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("(`type: isolated`)"):]
    start = section.index("```yaml\n") + 8
    block = section[start:section.index("\n```", start)]
    data = yaml.safe_load(block)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(tmp_path / "id"))
    key.write_public_key(str(tmp_path / "id.pub"))
    (tmp_path / "prepare.sh").write_text("#!/bin/sh\n")
    data.update(ssh_key=str(tmp_path / "id"), ssh_host_key=str(tmp_path / "id.pub"),
                workdir=str(tmp_path / "work"))
    cfg = parse_config(data, file="README.md", base_dir=tmp_path)
    assert cfg.pool.count == 2 and cfg.vm.pstore and cfg.pool.console.serial
