"""`vmtui screenshot` boots a pool headless, writes the SVG and exits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


def write_config(tmp: Path) -> Path:
    path = tmp / "pool.yaml"
    path.write_text(yaml.safe_dump({
        "name": "shot", "type": "scripted", "count": 2, "workdir": str(tmp / "work"),
        "vm": {"lines": ["booted {name}", "[@click=app.quit]inert[/]"]},
    }))
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmtui", "screenshot", *args],
                          capture_output=True, text=True, timeout=120)


def test_pool_and_instance_screenshots(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    out = tmp_path / "pool.svg"
    done = run(str(config), "--out", str(out), "--size", "100x20")
    assert done.returncode == 0, done.stderr
    svg = out.read_text()
    assert svg.startswith("<svg") and "shot-0" in svg and "shot-1" in svg
    inst = tmp_path / "inst.svg"
    done = run(str(config), "--screen", "instance:shot-1", "--out", str(inst))
    assert done.returncode == 0, done.stderr
    text = inst.read_text()
    assert "booted&#160;shot-1" in text and "[@click=app.quit]inert[/]" in text


def test_unknown_instance_is_refused(tmp_path: Path) -> None:
    done = run(str(write_config(tmp_path)), "--screen", "instance:nope",
               "--out", str(tmp_path / "x.svg"))
    assert done.returncode == 2
    assert done.stderr == ("vmtui: no instance 'nope' in the pool "
                           "(known: shot-0, shot-1)\n")
