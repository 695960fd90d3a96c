"""The daemon's lifetime: SIGTERM ends it with status 0 and every VM stopped;
a daemon started again on the same workdir lists the earlier crashes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import qemu_pids_in
from tests.serve_daemon import PANIC, Daemon, scripted_yaml
from vmtui.guest.build import Guest


def _crashes(d: Daemon) -> list[dict[str, object]]:
    deadline = time.monotonic() + 20
    while not (crashes := d.get("/api/v1/crashes")) or crashes[0]["count"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return crashes  # type: ignore[no-any-return]


def test_sigterm_stops_and_a_restart_lists_the_earlier_crash(tmp_path: Path) -> None:
    config = scripted_yaml(tmp_path, count=1, lines=PANIC)
    with Daemon([config]) as first:
        assert [(c["title"], c["count"]) for c in _crashes(first)] == \
            [("kernel panic: boom NUM", 1)]
        assert first.stop(signal.SIGTERM) == 0
        assert "every VM stopped, every file closed" in first.stderr
    with Daemon([config]) as second:
        deadline = time.monotonic() + 20
        while second.get("/api/v1/crashes")[0]["count"] < 2:  # the earlier one, and this run's
            assert time.monotonic() < deadline
            time.sleep(0.05)
        crash = second.get("/api/v1/crashes")[0]
        assert (crash["title"], crash["count"]) == ("kernel panic: boom NUM", 2)
        assert second.stop(signal.SIGINT) == 0


def test_a_second_signal_while_stopping_is_ignored(tmp_path: Path) -> None:
    with Daemon([scripted_yaml(tmp_path, count=2)]) as d:
        d.proc.send_signal(signal.SIGTERM)
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(30) == 0


@pytest.mark.guest
def test_sigterm_leaves_no_qemu(guest: Guest, tmp_path: Path) -> None:
    import yaml

    from vmtui.demo import demo_dict

    data = demo_dict(guest, count=1, workdir=tmp_path / "work")
    data["name"] = "srv"
    path = tmp_path / "srv.yaml"
    path.write_text(yaml.safe_dump(data))
    with Daemon([path]) as d:
        deadline = time.monotonic() + 240
        while d.get("/api/v1/instances/srv-0")["state"] != "running":
            assert time.monotonic() < deadline, d.get("/api/v1/instances/srv-0")
            time.sleep(0.2)
        assert qemu_pids_in(tmp_path / "work")
        assert d.stop(signal.SIGTERM) == 0
    assert qemu_pids_in(tmp_path / "work") == set()


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT])
def test_sighup_and_sigquit_stop_like_sigterm(tmp_path: Path, sig: int) -> None:
    with Daemon([scripted_yaml(tmp_path, count=2)]) as d:
        assert d.stop(sig) == 0
        assert "every VM stopped, every file closed" in d.stderr
        assert not d.sock.exists()


def test_a_second_daemon_on_the_same_pool_is_refused_at_once(tmp_path: Path) -> None:
    config = scripted_yaml(tmp_path, count=1)
    with Daemon([config]) as first:
        started = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "vmtui", "serve", str(config), "--listen",
             f"unix:{tmp_path / 'other.sock'}"], capture_output=True, text=True, timeout=60)
        assert time.monotonic() - started < 20
        assert second.returncode == 1
        assert f"the workdir {first.workdir} is in use" in second.stderr
        assert f"pid {first.proc.pid}" in second.stderr
        assert not (tmp_path / "other.sock").exists()
        assert first.get("/api/v1/instances")[0]["name"] == "snap-0"  # the first one serves on
        assert first.stop() == 0
    with Daemon([config]) as again:  # the lock went with its holder
        assert again.stop() == 0
