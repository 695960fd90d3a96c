"""`vmtui check` on broken configs: every problem at once, exit status 2 with the
field named, never a traceback. The cases found by mutating configs are kept
here by name, and a seeded fuzz run of 200 mutations keeps it so."""

from __future__ import annotations

import contextlib
import io
import math
import random
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_config import HOST_KEY
from vmtui.cli import main


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "bzImage").write_bytes(b"kernel")
    (tmp_path / "key").write_text("private")
    (tmp_path / "host.pub").write_text(HOST_KEY)
    (tmp_path / "folder").mkdir()
    (tmp_path / "garbage.pub").write_text("not a key at all\n")
    (tmp_path / "plainfile").write_text("x")
    return tmp_path


def good() -> dict[str, Any]:
    return {"name": "fz", "count": 2, "workdir": "work", "ssh_key": "key",
            "ssh_host_key": "host.pub", "vm": {"kernel": "bzImage", "mem": 512}}


def check(files: Path, text: str | bytes) -> tuple[int, str]:
    path = files / "pool.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(["check", str(path)])
    return status, err.getvalue()


def with_(**changes: Any) -> str:
    data = good()
    for key, value in changes.items():
        node = data
        *parents, last = key.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    return yaml.safe_dump(data)


CASES = [
    ("deep nesting", "name: " + "[" * 20000 + "]" * 20000 + "\n", "invalid YAML"),
    ("a 5000-digit number", f"count: {'9' * 5000}\n", "invalid YAML"),
    ("~nosuchuser", with_(vm__kernel="~nosuchuser-vmtui/vmlinuz"),
     "vm.kernel: cannot expand '~nosuchuser-vmtui': no such user"),
    ("a 300-byte file name", with_(vm__kernel="k" * 300), "vm.kernel: cannot use"),
    ("not UTF-8", b"name: \xff\xfe\n", "not UTF-8 text (byte 6)"),
    ("a list as kind", with_(vm__devices=[{"kind": ["block"]}]),
     "vm.devices[0].kind: a list is not one of"),
    (".nan", "name: fz\nno_output_timeout: .nan\nssh_key: key\nssh_host_key: host.pub\n"
     "vm: {kernel: bzImage}\n", "no_output_timeout: nan is not a finite number"),
    ("a folder as kernel", with_(vm__kernel="folder"), "vm.kernel: {dir}/folder is a folder"),
    ("a folder as ssh_key", with_(ssh_key="folder"), "ssh_key: {dir}/folder is a folder"),
    ("a file as workdir", with_(workdir="plainfile"),
     "workdir: {dir}/plainfile is a file, not a folder"),
    ("NUL in a socket path", with_(vm__devices=[{"kind": "chardev", "path": "/tmp/a\0{name}"}]),
     "vm.devices[0].path: contains a NUL byte"),
    ("a socket path over 107 bytes",
     with_(vm__devices=[{"kind": "chardev", "path": "/tmp/" + "s" * 120 + "{name}"}]),
     "vm.devices[0].path: a unix socket path is at most 107 bytes"),
    ("a duplicate key", "name: a\nname: b\n", "duplicate key 'name'"),
    ("a garbage host key", with_(ssh_host_key="garbage.pub"),
     "ssh_host_key: {dir}/garbage.pub is not an SSH public key"),
    ("an alias bomb", "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
        for p, n in zip("abcdefg", "bcdefgh", strict=True))
     + "name: fz\nssh_key: key\nssh_host_key: host.pub\n"
       "vm: {kernel: bzImage, devices: *h, qemu_args: *h, append: *h}\n",
     "vm.qemu_args[0]: expected a string, got a list"),
    ("a python tag", "name: !!python/object/apply:os.system ['touch {dir}/PWNED']\n",
     "could not determine a constructor for the tag"),
    ("a unicode name", with_(name="ünïcødé-☃"), "name: 'ünïcødé-☃' must be letters, digits"),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CASES],
                         ids=[n for n, _, _ in CASES])
def test_a_broken_config_is_named_not_a_traceback(files: Path, text: str,
                                                  expected: str) -> None:
    status, err = check(files, text.replace("{dir}", str(files)) if isinstance(text, str) else text)
    assert status == 2 and expected.format(dir=files) in err, err
    assert not (files / "PWNED").exists()  # no tag is ever executed


def test_every_problem_is_reported_at_once(files: Path) -> None:
    data = good()
    data.update(count=0, bogus=1)
    data["vm"].update(mem="lots", cpus=-1)
    status, err = check(files, yaml.safe_dump(data))
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 4, err
    for field in ("count", "bogus", "vm.mem", "vm.cpus"):
        assert any(f"pool.yaml: {field}: " in line for line in lines), (field, err)


VALUES: list[Any] = [math.nan, math.inf, -1, 0, 10**30, 3.5, "", "x" * 5000, None, True, [],
                     {}, [[[[[]]]]], {"kind": ["block"]}, "~nosuchuser-vmtui/x", "a\0b",
                     "k" * 300, "folder", "plainfile", "{index}", "{name}/x", "bzImage", "2G"]


def test_two_hundred_mutations_end_in_status_0_or_2(files: Path) -> None:
    rng = random.Random(12)
    base = good()
    keys = [(None, k) for k in ("name", "count", "workdir", "ssh_key", "ssh_host_key",
                                "no_output_timeout", "target", "boot_timeout")]
    keys += [("vm", k) for k in ("kernel", "mem", "cpus", "machine", "append", "devices",
                                 "uuid", "mem_max", "mem_slots", "bios")]
    refused = 0
    for _ in range(200):
        data = yaml.safe_load(yaml.safe_dump(base))
        for _ in range(rng.randint(1, 3)):
            section, key = rng.choice(keys)
            node = data if section is None else data[section]
            roll = rng.random()
            if roll < 0.1:
                node.pop(key, None)
            elif roll < 0.2:
                node[f"unknown{rng.randint(0, 9)}"] = 1
            else:
                node[key] = rng.choice(VALUES)
        text = yaml.safe_dump(data, allow_unicode=True)
        if rng.random() < 0.1:  # a tag that would run code if anything constructed it
            text = text.replace("name: ", f"name: !!python/object/apply:os.system "
                                          f"['touch {files}/PWNED'] #", 1)
        began = time.monotonic()
        status, err = check(files, text)
        took = time.monotonic() - began
        assert status in (0, 2), err
        assert took < 5, f"check took {took:.1f}s"
        assert not (files / "PWNED").exists()
        assert status == 0 or err.startswith("vmtui: "), err
        refused += status == 2
    assert refused >= 150  # nearly every mutation breaks something, and says so
