"""``vmtui ctl``: status, crashes, every action, and its exit statuses (0 done,
1 the action failed, 2 usage / address / unreachable / token refused)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.remote_helpers import ctl, daemon, scripted_yaml
from vmtui.backends.inert import GuestText
from vmtui.remote.ctl import table

PANIC = "[    2.5] Kernel panic - not syncing: \x1b]0;pwned\x07 scripted panic"


def test_ctl_status_actions_and_exit_statuses(tmp_path: Path) -> None:
    config = scripted_yaml(tmp_path / "c.yaml", "ctl", 3, tmp_path / "w",
                           lines=["hello {name}", "{index}"])
    crashy = scripted_yaml(tmp_path / "x.yaml", "boom", 1, tmp_path / "x",
                           lines=["boot", PANIC])
    with daemon(tmp_path, [config, crashy], tcp=True) as d:
        at = f"unix:{d.socket}"
        status = ctl(at, "status")
        assert status.returncode == 0, status.stderr
        rows = status.stdout.splitlines()
        assert rows[0].split()[:3] == ["NAME", "POOL", "STATE"]
        table = {r.split()[0]: r.split()[1:3] for r in rows[1:]}
        assert table == {"ctl-0": ["ctl", "running"], "ctl-1": ["ctl", "running"],
                         "ctl-2": ["ctl", "running"], "boom-0": ["boom", "crashed"]}
        assert "\x1b" not in status.stdout and "pwned" in status.stdout
        as_json = json.loads(ctl(at, "status", "--json").stdout)
        assert [(s["name"], s["state"]) for s in as_json][:1] == [("ctl-0", "running")]

        deadline = time.monotonic() + 15  # filed once the rest of its report is in
        while (crashes := ctl(at, "crashes")).stdout.strip() == "no crashes":
            assert crashes.returncode == 0 and time.monotonic() < deadline
            time.sleep(0.3)
        assert crashes.returncode == 0
        assert crashes.stdout.splitlines()[0].split() == ["COUNT", "LAST", "SEEN",
                                                          "INSTANCES", "TITLE"]
        assert crashes.stdout.splitlines()[1].split()[0] == "1"
        assert "\x1b" not in crashes.stdout
        assert json.loads(ctl(at, "crashes", "--json").stdout)[0]["count"] == 1

        # Actions: done (0), refused by the instance's state (1), unknown instance (1).
        assert ctl(at, "pause", "ctl-1").returncode == 0
        assert ctl(at, "resume", "ctl-1").returncode == 0
        done = ctl(at, "kill", "ctl-1")
        assert (done.returncode, done.stdout.strip()) == (0, "ctl-1: kill done")
        again = ctl(at, "pause", "ctl-1")
        assert again.returncode == 1 and "stopped" in again.stderr
        unknown = ctl(at, "restart", "nope-7")
        assert unknown.returncode == 1 and "nope-7" in unknown.stderr
        assert ctl(at, "start", "ctl-1").returncode == 0
        assert ctl(at, "restart", "ctl-2").returncode == 0
        assert ctl(at, "reset", "ctl-2").returncode == 0
        held = ctl(at, "hold", "ctl-0")
        assert held.returncode == 0 and "gdb -ex" in held.stdout
        assert ctl(at, "release", "ctl-0").returncode == 0
        diag = ctl(at, "diagnose", "ctl-0", "sysrq-t")
        assert diag.returncode == 0 and "sysrq-t done" in diag.stdout
        assert ctl(at, "powerdown", "ctl-2").returncode == 0
        stopped = ctl(at, "stop-all")
        assert stopped.returncode == 0 and stopped.stdout.split()[0] == "stopped:"
        assert "ctl-0" in stopped.stdout and "ctl-2" not in stopped.stdout
        started = ctl(at, "start-all")
        assert started.returncode == 0 and {"ctl-0", "ctl-2"} <= set(started.stdout.split())
        states = {r.split()[0]: r.split()[2] for r in ctl(at, "status").stdout.splitlines()[1:]}
        assert {states[f"ctl-{i}"] for i in range(3)} == {"running"}

        # Usage: 2, before any request.
        for words in ([at], [at, "frobnicate", "ctl-0"], [at, "kill"],
                      [at, "status", "extra"], ["unix"], ["tcp:host:port", "status"]):
            bad = ctl(*words)
            assert bad.returncode == 2, (words, bad.stderr)
            assert bad.stderr.startswith(("vmtui ctl:", "usage:")), bad.stderr
        # Unreachable, and the token over TCP: 2.
        gone = ctl(f"unix:{tmp_path / 'none.sock'}", "status")
        assert gone.returncode == 2 and "none.sock" in gone.stderr
        assert ctl(d.tcp, "status", env={"VMTUI_TOKEN": ""}).returncode == 2
        wrong = ctl(d.tcp, "status", env={"VMTUI_TOKEN": "wrong"})
        assert wrong.returncode == 2 and "unauthorized" in wrong.stderr
        right = ctl(d.tcp, "--token-file", str(d.token()), "status")
        assert right.returncode == 0 and "ctl-0" in right.stdout
        read_only = ctl(d.tcp, "--token-file", str(d.token("token-ro")), "kill", "ctl-0")
        assert read_only.returncode == 2 and "forbidden" in read_only.stderr
        assert ctl(d.tcp, "--token-file", str(d.token("token-ro")), "status").returncode == 0


def test_ctl_text_is_inert() -> None:
    shown = table([("NAME", "TITLE"), ("a-0", GuestText("x") + "\x1b]0;pwned\x07\x9b2J")])
    assert shown.splitlines()[1] == "a-0   x␛]0;pwned␇\ufffd2J"


def test_ctl_help_documents_the_exit_statuses() -> None:
    shown = ctl("--help")
    assert shown.returncode == 0
    for line in ("0  done", "1  the daemon refused or failed the action",
                 "2  usage error, bad address, daemon unreachable or not answering in time",
                 "start-all / stop-all", "diagnose NAME ACTION"):
        assert line in shown.stdout
