"""The JSON API of a real ``vmtui serve`` on a scripted pool: every endpoint's
shape, and hostile requests that get a clear 4xx and break nothing."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.serve_daemon import PANIC, Daemon, scripted_yaml
from vmtui.backends.fleet.control import ConsoleChunk, InstanceSnapshot, PoolInfo, Table
from vmtui.backends.fleet.wire import from_json
from vmtui.backends.monitor.crashes import Crash
from vmtui.backends.monitor.evidence import Incident

V1 = "/api/v1"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder = tmp_path_factory.mktemp("api")
    config = scripted_yaml(folder, count=3, lines=["hello from {name}", "bye {index}"])
    with Daemon([config]) as d:
        yield d


def test_queries_answer_the_wire_types(daemon: Daemon) -> None:
    pools = from_json(daemon.get(f"{V1}/pools"), list[PoolInfo])
    assert [(p.name, p.count, p.type) for p in pools] == [("snap", 3, "scripted")]
    snaps = from_json(daemon.get(f"{V1}/instances"), list[InstanceSnapshot])
    assert [s.name for s in snaps] == ["snap-0", "snap-1", "snap-2"]
    one = from_json(daemon.get(f"{V1}/instances/snap-1"), InstanceSnapshot)
    assert (one.name, one.pool) == ("snap-1", "snap")
    totals = daemon.get(f"{V1}/totals?instance=snap-0&instance=snap-1")
    assert set(totals) == {"vm_hours", "crashes", "crashes_per_hour", "unique"}
    assert daemon.get(f"{V1}/changes") == {"changes": 0}
    version = daemon.get(f"{V1}/version")
    assert version == {"api": 1, "vmtui": "0.1.0", "run": pools[0].run, "read_only": False}
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", version["run"])  # when it started, and more
    chunk = from_json(daemon.get(f"{V1}/instances/snap-0/console"), ConsoleChunk)
    assert [line[2] for line in chunk.lines] == ["hello from snap-0", "bye 0"]
    later = from_json(daemon.get(f"{V1}/instances/snap-0/console?cursor={chunk.next_cursor}"),
                      ConsoleChunk)
    assert (later.lines, later.next_cursor) == ([], chunk.next_cursor)
    table = from_json(daemon.get(f"{V1}/instances/snap-0/inspect/cpus"), Table)
    assert table.columns[0] == "CPU" and len(table.rows) == 2
    assert daemon.get(f"{V1}/instances/snap-0/boot-output") == []
    assert daemon.get(f"{V1}/crashes") == []


def test_actions_drive_the_instance(daemon: Daemon) -> None:
    assert daemon.post(f"{V1}/instances/snap-1/actions/pause") == (200, {})
    assert daemon.get(f"{V1}/instances/snap-1")["state"] == "paused"
    assert daemon.post(f"{V1}/instances/snap-1/actions/resume") == (200, {})
    assert daemon.get(f"{V1}/instances/snap-1")["state"] == "running"
    assert daemon.post(f"{V1}/instances/snap-1/snapshots", {"tag": "t1"}) == (200, {})
    assert [s["tag"] for s in daemon.get(f"{V1}/instances/snap-1/snapshots")] == ["t1"]
    assert daemon.post(f"{V1}/instances/snap-1/snapshots/t1/restore") == (200, {})
    status, held = daemon.post(f"{V1}/instances/snap-1/hold")
    assert status == 200 and "gdb" in held["command"]
    assert daemon.get(f"{V1}/instances/snap-1")["held"] is True
    assert daemon.post(f"{V1}/instances/snap-1/release") == (200, {})
    status, saved = daemon.post(f"{V1}/instances/snap-1/console/save", {"lines": ["a", "b"]})
    assert status == 200 and Path(saved["path"]).read_text().splitlines() == ["a", "b"]
    assert daemon.post(f"{V1}/instances/snap-1/console/input",
                       {"data": "typed\xe9\n"}) == (200, {})
    chunk = daemon.get(f"{V1}/instances/snap-1/console")
    assert any("typed" in line[2] for line in chunk["lines"])
    status, diag = daemon.post(f"{V1}/instances/snap-1/diagnose", {"action": "sysrq-t"})
    assert status == 200 and diag["action"] == "sysrq-t"


def test_a_diagnose_action_is_checked_before_it_reaches_the_console(daemon: Daemon) -> None:
    forged = "sysrq-t\n[    1.0] Kernel panic - not syncing: forged \x1b[2J"
    for action in (forged, "sysrq-\u00e9", "sysrq-tt", "reboot"):
        status, answer = daemon.post(f"{V1}/instances/snap-0/diagnose", {"action": action})
        assert status == 400, (action, answer)
        message = answer["error"]["message"]
        assert "field 'action'" in message and "sysrq-X" in message and "ddb" in message
    chunk = daemon.get(f"{V1}/instances/snap-0/console")
    assert not any("forged" in line[2] or "diagnose:" in line[2] for line in chunk["lines"])


def test_start_all_and_stop_all(tmp_path: Path) -> None:
    with Daemon([scripted_yaml(tmp_path, count=2)]) as d:
        assert d.post(f"{V1}/actions/kill") == (200, {"names": ["snap-0", "snap-1"]})
        _until(lambda: {s["state"] for s in d.get(f"{V1}/instances")} == {"stopped"})
        assert d.post(f"{V1}/actions/kill") == (200, {"names": []})
        assert d.post(f"{V1}/actions/boot") == (200, {"names": ["snap-0", "snap-1"]})
        _until(lambda: {s["state"] for s in d.get(f"{V1}/instances")} == {"running"})
        status, body = d.post(f"{V1}/actions/pause")
        assert status == 400 and "boot or kill" in body["error"]["message"]


def _until(cond: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.parametrize(("method", "path", "body", "status", "says"), [
    ("POST", "/instances/snap-0/diagnose", "{bad", 400, "not JSON"),
    ("POST", "/instances/snap-0/diagnose", "[1]", 400, "JSON object"),
    ("POST", "/instances/snap-0/diagnose", '{"action": 3}', 400, "'action' must be a string"),
    ("POST", "/instances/snap-0/diagnose", '{"action": "x", "y": 1}', 400, "unknown field 'y'"),
    ("POST", "/instances/snap-0/diagnose", "{}", 400, "'action' is missing"),
    ("POST", "/instances/snap-0/diagnose", '{"action": ""}', 400, "'action' must be 1 to"),
    ("POST", "/instances/snap-0/snapshots", '{"tag": null}', 400, "'tag' must be a string"),
    ("POST", "/instances/snap-0/console/save", '{"lines": [1]}', 400, "list of strings"),
    ("POST", "/instances/snap-0/console/input", '{"data": "\\u20ac"}', 400, "Latin-1"),
    ("POST", "/instances/snap-0/hold", '{"x": 1}', 400, "unknown field 'x'"),
    ("POST", "/instances/nope/actions/pause", None, 404, "'nope'"),
    ("POST", "/instances/snap-0/actions/explode", None, 404, "'explode'"),
    ("GET", "/instances/nope", None, 404, "'nope'"),
    ("GET", "/instances/nope/console", None, 404, "'nope'"),
    ("GET", "/instances/snap-0/console?cursor=-1", None, 400, "'cursor'"),
    ("GET", "/instances/snap-0/console?cursor=abc", None, 400, "'cursor'"),
    ("GET", "/instances/snap-0/inspect/secrets", None, 404, "'secrets'"),
    ("GET", "/totals?instance=ghost", None, 404, "'ghost'"),
    ("GET", "/crashes/report", None, 400, "'title' is missing"),
    ("GET", "/crashes/report?title=none", None, 404, "'none'"),
    ("GET", "/crashes/log", None, 400, "'title' is missing"),
    ("GET", "/crashes/log?title=none", None, 404, "'none'"),
    ("GET", "/incidents/file?folder=/etc&file=passwd", None, 404, "/etc"),
    ("GET", "/nothing", None, 404, "Not Found"),
    ("DELETE", "/instances", None, 405, "Not Allowed"),
    ("GET", "/stream", None, 400, "WebSocket"),
])
def test_hostile_requests_get_a_clear_4xx(daemon: Daemon, method: str, path: str,
                                         body: str | None, status: int, says: str) -> None:
    got, answer = daemon.request(method, V1 + path, body)
    assert got == status, answer
    assert says in answer["error"]["message"]
    assert answer["error"]["type"] in ("BadRequest", "NotFound")
    assert daemon.get(f"{V1}/version")["api"] == 1  # still answering


def test_a_huge_body_is_refused(daemon: Daemon) -> None:
    status, answer = daemon.request("POST", f"{V1}/instances/snap-0/console/save",
                                    b'{"lines": ["' + b"a" * 3_000_000 + b'"]}')
    assert status == 413 and "too large" in answer["error"]["message"]
    assert daemon.proc.poll() is None and daemon.get(f"{V1}/changes")


def test_a_state_error_is_409_with_its_class(daemon: Daemon) -> None:
    status, answer = daemon.post(f"{V1}/instances/snap-2/actions/kill")
    assert status == 200
    status, answer = daemon.post(f"{V1}/instances/snap-2/actions/pause")
    assert status == 409 and answer["error"]["type"] == "StateError"
    assert "snap-2" in answer["error"]["message"]
    assert daemon.post(f"{V1}/instances/snap-2/actions/boot") == (200, {})


def test_incident_files_only_inside_a_known_incident(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for clients")
    with Daemon([scripted_yaml(tmp_path, count=1, lines=PANIC)]) as d:
        _until(lambda: d.get(f"{V1}/incidents"))
        incident = from_json(d.get(f"{V1}/incidents?instance=snap-0")[0], Incident)
        _until(lambda: d.get(f"{V1}/incidents")[0]["complete"])
        folder = quote(str(incident.folder))
        text = d.get(f"{V1}/incidents/file?folder={folder}&file=report.txt")["text"]
        assert "title: kernel panic: boom NUM" in text
        # The crash entry is a link to crashes/<title>: it reads as the local viewer shows it.
        _until(lambda: "crash" in d.get(f"{V1}/incidents")[0]["files"])
        linked = d.get(f"{V1}/incidents/file?folder={folder}&file=crash")["text"]
        assert "-> " in linked and "/crashes/" in linked
        for file in ("crash/../report.txt", "../crash", "crash/report"):
            status, answer = d.request("GET", f"{V1}/incidents/file?folder={folder}"
                                       f"&file={quote(file, safe='')}")
            assert status == 400, (file, answer)
        rel = os.path.relpath(secret, incident.folder)
        for file in (rel, quote(rel, safe=""), str(secret), "..", ".", "", "%2e%2e%2fx"):
            status, answer = d.request("GET", f"{V1}/incidents/file?folder={folder}"
                                       f"&file={quote(file, safe='%')}")
            assert status == 400, (file, answer)
            assert "not a file of the incident" in answer["error"]["message"]
        status, answer = d.request("GET", f"{V1}/incidents/file?folder="
                                   f"{quote(str(incident.folder.parent))}&file=x")
        assert status == 404
        crash = from_json(d.get(f"{V1}/crashes")[0], Crash)
        assert crash.count == 1
        report = d.get(f"{V1}/crashes/report?title={quote(str(crash.title))}")
        assert "Kernel panic" in report["text"]
        log = d.get(f"{V1}/crashes/log?title={quote(str(crash.title))}")
        assert log["name"].startswith("log") and "Kernel panic" in log["text"]


def test_the_socket_and_its_folder_are_the_owners_only(tmp_path: Path) -> None:
    runtime = Path(os.environ.get("TMPDIR", "/tmp")) / f"rt{os.getpid()}"
    config = scripted_yaml(tmp_path, count=1)
    with Daemon([config], env={"XDG_RUNTIME_DIR": str(runtime)},
                sock=runtime / "vmtui" / "snap.sock", args=["--name", "snap"]) as d:
        assert d.sock == runtime / "vmtui" / "snap.sock"  # the default address
        assert stat.S_IMODE(d.sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(d.sock.parent.stat().st_mode) == 0o700
        assert d.get(f"{V1}/version")["api"] == 1
        # A second daemon on the same socket (another workdir, the same pool
        # name) is refused; the first carries on.
        other = scripted_yaml(tmp_path / "other", count=1)
        out = subprocess.run([sys.executable, "-m", "vmtui", "serve", str(other)],
                             env={**d.env}, capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and "another daemon listens there" in out.stderr
        assert d.get(f"{V1}/version")["api"] == 1
        assert d.stop() == 0
    assert not (runtime / "vmtui" / "snap.sock").exists()


def test_a_folder_others_may_enter_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    out = subprocess.run([sys.executable, "-m", "vmtui", "serve", str(scripted_yaml(tmp_path)),
                          "--listen", f"unix:{folder}/x.sock"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "others may enter it" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "vmtui", "serve", str(scripted_yaml(tmp_path)),
                          "--listen", "http://x"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unix:PATH or tcp:HOST:PORT" in bad.stderr
