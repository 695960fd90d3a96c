"""`vmtui argv CONFIG --instance N`: the QEMU command line, one argument a line."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import yaml


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmtui", "argv", *args],
                          capture_output=True, text=True)


def test_argv_prints_each_instance_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "vmlinuz").write_bytes(b"k")
    for i in range(2):
        (tmp_path / f"d{i}.img").write_bytes(b"d")
    config = tmp_path / "pool.yaml"
    config.write_text(yaml.safe_dump({
        "name": "p", "count": 2, "workdir": "w", "vm": {
            "kernel": "vmlinuz", "append": "console=ttyS0 who={name}",
            "devices": [{"kind": "block", "file": "d{index}.img"}, {"kind": "net"}]}}))
    done = run(str(config), "--instance", "1")
    assert done.returncode == 0, done.stderr
    args = [shlex.split(line)[0] for line in done.stdout.splitlines()]
    assert args[args.index("-append") + 1] == "console=ttyS0 who=p-1"
    assert any(f"file={tmp_path}/d1.img," in a for a in args)
    assert "-S" not in args and args[args.index("-name") + 1] == "p-1,debug-threads=on"
    assert any("hostfwd=tcp:127.0.0.1:$SSH_PORT-:22" in a for a in args)
    wrong = run(str(config), "--instance", "2")
    assert wrong.returncode == 2 and "--instance: 2 is not one of 0 to 1" in wrong.stderr
