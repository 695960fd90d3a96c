"""/metrics of a real daemon, parsed with prometheus_client's own parser."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.serve_daemon import PANIC, Daemon, scripted_yaml


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_parse_and_count(tmp_path: Path) -> None:
    crashing = scripted_yaml(tmp_path / "a", count=2, lines=["hi", *PANIC], name="boom")
    quiet = scripted_yaml(tmp_path / "b", count=1, name="calm")
    with Daemon([crashing, quiet]) as d:
        deadline = time.monotonic() + 20
        while sum(c["count"] for c in d.get("/api/v1/crashes")) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status, text = d.request("GET", "/metrics")
        assert status == 200
        got = _samples(text)
        console = d.get("/api/v1/instances/calm-0/console?cursor=0")
    # Bytes as the VM printed them: its lines (not vmtui's own notes), each with its newline.
    printed = [text for _, source, text, _ in console["lines"] if source != "vmtui"]
    assert "hello from calm-0" in printed
    calm0 = (("instance", "calm-0"), ("pool", "calm"))
    assert got[("vmtui_console_bytes_total", calm0)] == sum(len(t.encode()) + 1 for t in printed)
    assert got[("vmtui_console_lines_total", calm0)] == len(console["lines"])
    pool = (("pool", "boom"),)
    assert got[("vmtui_instances", (("pool", "boom"), ("state", "crashed")))] == 2
    assert got[("vmtui_instances", (("pool", "calm"), ("state", "running")))] == 1
    assert got[("vmtui_instances", (("pool", "calm"), ("state", "crashed")))] == 0
    assert got[("vmtui_crash_total", pool)] == 2
    assert got[("vmtui_crash_types", pool)] == 1
    assert got[("vmtui_crash_total", (("pool", "calm"),))] == 0
    assert got[("vmtui_vm_boots_total", pool)] == 2
    assert got[("vmtui_vm_restarts_total", pool)] == 0
    assert got[("vmtui_farm_rounds_total", pool)] == 0
    assert got[("vmtui_console_lines_total", (("instance", "boom-1"), ("pool", "boom")))] >= 3
    assert got[("vmtui_verdicts_total", (("pool", "boom"), ("verdict", "hung")))] == 0
    assert got[("vmtui_vm_booting_seconds_total", pool)] >= 0
    assert got[("vmtui_crash_titles", ())] == 1
    assert got[("process_resident_memory_bytes", ())] > 10_000_000
    assert got[("process_cpu_seconds_total", ())] > 0
    names = {name for name, _ in got}
    assert all(n.startswith(("vmtui_", "process_")) for n in names), names
