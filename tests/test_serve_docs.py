"""Every curl example of docs/api.md, run with the real curl against a real
daemon (two scripted pools: demo, and boom whose instance crashes), in the
order written; each must answer the status and JSON shape its comment says."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.serve_daemon import PANIC, Daemon, scripted_yaml

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
EXAMPLE = re.compile(r"^(curl .*?)\s+# (\d{3}) (\S+)$")


def examples() -> list[tuple[str, int, str]]:
    """(command, status, shape) of every curl line in the doc's sh blocks."""
    found, in_sh = [], False
    for line in DOC.read_text().splitlines():
        if line.startswith("```"):
            in_sh = line.strip() == "```sh"
            continue
        if in_sh and line.startswith("curl "):
            m = EXAMPLE.match(line)
            assert m, f"a curl example without '# STATUS SHAPE': {line}"
            found.append((m.group(1), int(m.group(2)), m.group(3)))
    return found


def check_shape(shape: str, text: str) -> None:
    if shape == "text":
        assert list(text_string_to_metric_families(text))
        return
    data = json.loads(text)
    if shape.startswith("["):
        assert isinstance(data, list)
        if data and shape == "[str]":
            assert all(isinstance(v, str) for v in data)
        elif data:
            assert all(isinstance(v, dict) for v in data)
        return
    assert isinstance(data, dict) and shape.startswith("{")
    keys = [k for k in shape.strip("{}").split(",") if k]
    if not keys:
        assert data == {}
    elif keys == ["error"]:
        assert set(data) == {"error"} and set(data["error"]) == {"type", "message"}
    else:
        assert set(keys) <= set(data), (keys, sorted(data))


def test_the_doc_has_examples_of_every_kind() -> None:
    found = examples()
    assert len(found) >= 30
    assert {status for _, status, _ in found} >= {200, 400, 401, 403, 404, 409}


def test_the_curl_examples_run(tmp_path: Path) -> None:
    curl = shutil.which("curl")
    assert curl, "curl is needed (bootstrap.sh installs it)"
    configs = [scripted_yaml(tmp_path, count=2, name="demo"),
               scripted_yaml(tmp_path / "boom", count=1, lines=PANIC, name="boom")]
    with Daemon(configs, tcp=True) as d:
        deadline = time.monotonic() + 20
        while not (incidents := d.get("/api/v1/incidents?instance=boom-0")) \
                or not incidents[0]["complete"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        env = {**os.environ, "SOCK": str(d.sock), "PORT": str(d.port), "TOKEN": d.token,
               "TOKEN_RO": d.token_ro, "FOLDER": incidents[0]["folder"]}
        for command, status, shape in examples():
            out = tmp_path / "body"
            run = subprocess.run(["bash", "-c", f"{command} -s -o {out} -w '%{{http_code}}'"],
                                 env=env, capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, (command, run.stderr)
            assert int(run.stdout) == status, (command, out.read_text())
            check_shape(shape, out.read_text())
            if "/api/v1/actions/" in command:  # start/stop all: started, not awaited
                want = "stopped" if command.endswith("kill") else "running"
                while {s["state"] for s in d.get("/api/v1/instances")
                       if s["pool"] == "demo"} != {want}:
                    assert time.monotonic() < deadline + 60
                    time.sleep(0.05)
