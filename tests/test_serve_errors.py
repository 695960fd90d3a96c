"""A real daemon's errors: every bad config said at start, a bug inside a Control
call answered 500 with a plain message (never a 400 or a "no instance" 404 it
is not), the daemon carrying on after it, its log lines in one form."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.serve_daemon import Daemon

V1 = "/api/v1"


def test_every_bad_config_is_said_at_start(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\ntype: scripted\ncount: -1\n")
    (tmp_path / "b.yaml").write_text("name: b\ntype: nosuchtype\n")
    run = subprocess.run([sys.executable, "-m", "vmtui", "serve", str(tmp_path / "a.yaml"),
                          str(tmp_path / "b.yaml")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.splitlines()
    assert any("a.yaml" in line and "count" in line for line in lines), lines
    assert any("b.yaml" in line and "nosuchtype" in line for line in lines), lines
    assert all(line.startswith("vmtui serve: ") for line in lines), lines


def test_a_bug_in_a_control_call_is_a_500_and_the_daemon_carries_on(tmp_path: Path) -> None:
    config = tmp_path / "bugs.yaml"
    config.write_text(yaml.safe_dump({
        "name": "bugs", "type": "scripted", "count": 1, "workdir": str(tmp_path / "w"),
        "vm": {"lines": ["hello {name}"], "bugs": ["snapshots", "take_snapshot"]}}))
    with Daemon([config]) as d:
        deadline = time.monotonic() + 20
        while d.get(f"{V1}/instances/bugs-0")["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # A ValueError from inside (it was a 400, as if the request were bad).
        status, body = d.request("GET", f"{V1}/instances/bugs-0/snapshots")
        assert status == 500, body
        assert body == {"error": {"type": "VMError", "message":
                                  "internal error: ValueError: scripted bug in snapshots"}}
        # A KeyError naming the instance (it was a 404 "no instance named 'bugs-0'").
        status, body = d.post(f"{V1}/instances/bugs-0/snapshots", {"tag": "t"})
        assert status == 500, body
        assert body["error"]["message"] == "internal error: KeyError: 'bugs-0'"
        # A name no pool has is still a 404, checked before any call.
        status, body = d.post(f"{V1}/instances/nope-0/snapshots", {"tag": "t"})
        assert (status, body["error"]["type"]) == (404, "NotFound")
        # The daemon carries on: it answers, and acts.
        status, _ = d.post(f"{V1}/instances/bugs-0/actions/pause")
        assert status == 200
        assert d.get(f"{V1}/instances/bugs-0")["state"] == "paused"
        assert d.get(f"{V1}/version")["api"] == 1
        assert d.stop() == 0
        log = d.stderr
    # The traceback went to the log, every line of it in the daemon's one form.
    assert "ValueError: scripted bug in snapshots" in log
    assert all(line.startswith("vmtui serve: ") for line in log.splitlines()), log
