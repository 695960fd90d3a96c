"""`vmtui check A.yaml B.yaml`: several pools as the app takes them, every problem
of every file at once, one line each, each line `vmtui: ...` (#23)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from vmtui.backends.config.jsonschema import config_schema
from vmtui.backends.config.pool import PoolConfig
from vmtui.cli import main


def pool(tmp_path: Path, file: str, name: str, **vm: Any) -> Path:
    (tmp_path / "vmtui").write_bytes(b"k")
    path = tmp_path / file
    path.write_text(yaml.safe_dump({"name": name, "workdir": f"work-{file}",
                                    "vm": {"kernel": "vmtui", **vm}}))
    return path


def test_check_takes_several_pools_and_catches_a_name_given_twice(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, c = (pool(tmp_path, f, n) for f, n in (("a.yaml", "fuzz"), ("b.yaml", "other"),
                                                 ("c.yaml", "fuzz")))
    assert main(["check", str(a), str(b)]) == 0
    out = capsys.readouterr()
    assert out.out == f"{a}: ok (qemu, 1 instance)\n{b}: ok (qemu, 1 instance)\n"
    assert out.err == ""
    assert main(["check", str(a), str(b), str(c)]) == 2
    out = capsys.readouterr()
    assert out.out == f"{a}: ok (qemu, 1 instance)\n{b}: ok (qemu, 1 instance)\n"
    assert out.err == (f"vmtui: {c}: name: pool 'fuzz' is named so in {a} too: pools shown "
                       "together need names of their own\n")


def test_opening_two_pools_of_one_name_stops_before_any_workdir(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, c = pool(tmp_path, "a.yaml", "fuzz"), pool(tmp_path, "c.yaml", "fuzz")
    assert main([str(a), str(c)]) == 2
    assert "name: pool 'fuzz' is named so in" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "c.yaml", "vmtui"]


def test_a_refusal_comes_with_every_other_problem(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = pool(tmp_path, "a.yaml", "fuzz", daemonize=True, cpus=0, memory=512)
    good = pool(tmp_path, "b.yaml", "other")
    assert main(["check", str(bad), str(good)]) == 2
    out = capsys.readouterr()
    assert out.out == f"{good}: ok (qemu, 1 instance)\n"
    assert out.err.splitlines() == [
        f"vmtui: {bad}: vm.memory: unknown key (did you mean 'mem'?)",
        f"vmtui: {bad}: vm.cpus: 0 is out of range (allowed: 1 to 288)",
        f"vmtui: {bad}: vm.daemonize: refused: vmtui owns each QEMU process (its console, "
        "its exit, its death with vmtui); a daemonized QEMU escapes it",
    ]


def test_every_line_of_an_error_says_vmtui(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = pool(tmp_path, "a.yaml", "fuzz", cpus=0, mem=0)
    for command in (["check"], ["argv"], ["run"], []):
        assert main([*command, str(bad)]) == 2
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 2 and all(line.startswith(f"vmtui: {bad}: vm.")
                                       for line in lines), (command, lines)


def test_the_schema_refuses_what_the_loader_refuses() -> None:
    schema = config_schema(PoolConfig)
    data = {"name": "p", "vm": {"kernel": "k", "daemonize": True}}
    assert [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(data)] \
        == ["False was expected"]
    data["vm"]["daemonize"] = False  # type: ignore[index]
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []
