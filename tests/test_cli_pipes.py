"""Every command stops quietly when its reader goes away (`vmtui schema | head`)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXIT_PIPE = 141  # what a shell shows for a tool ended by SIGPIPE (128 + 13)


def pool(tmp_path: Path) -> Path:
    (tmp_path / "vmlinuz").write_bytes(b"k")
    path = tmp_path / "pool.yaml"
    path.write_text(yaml.safe_dump({"name": "p", "workdir": "w", "vm": {"kernel": "vmlinuz"}}))
    return path


COMMANDS = [["schema"], ["argv", "{pool}"], ["check", "{pool}"], ["demo", "--print"],
            ["report", "{log}"], ["report", "--json", "{log}"]]


@pytest.mark.parametrize(("args", "status"), [(a, EXIT_PIPE) for a in COMMANDS]
                         + [(["--help"], 0)],  # argparse drops what it cannot write
                         ids=[" ".join(a) for a in COMMANDS] + ["--help"])
def test_a_closed_pipe_ends_a_command_quietly(tmp_path: Path, args: list[str],
                                              status: int) -> None:
    log = tmp_path / "console.log"
    log.write_text("[    1.0] WARNING: CPU: 0 PID: 1 at mm/x.c:10 f+0x1/0x2\n" * 50)
    filled = [a.format(pool=pool(tmp_path), log=log) for a in args]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte
    try:
        done = subprocess.run([sys.executable, "-m", "vmtui", *filled], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (status, "")


def test_schema_into_head(tmp_path: Path) -> None:
    # A real reader that leaves early: head takes 100 bytes of a pipe too small
    # for the whole schema (4 KiB), so vmtui is still writing when it goes.
    read, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)
    try:
        vmtui = subprocess.Popen([sys.executable, "-m", "vmtui", "schema"], stdout=write,
                                 stderr=subprocess.PIPE, text=True)
        head = subprocess.Popen(["head", "-c", "100"], stdin=read, stdout=subprocess.PIPE)
    finally:
        os.close(read)
        os.close(write)
    out, _ = head.communicate(timeout=60)
    _, err = vmtui.communicate(timeout=60)
    assert out.startswith(b"{") and len(out) == 100
    assert (vmtui.returncode, err) == (EXIT_PIPE, "")
