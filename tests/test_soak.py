"""The soak (bench/soak.py) for two minutes: real guests under the farm loop while
a chaos driver kills, stops, resets, crashes and powers them down."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.guest

BENCH = Path(__file__).parent.parent / "bench" / "soak.py"


async def test_two_minutes_of_chaos_lose_nothing(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("soak", BENCH)
    assert spec is not None and spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = soak  # its dataclasses look their module up
    spec.loader.exec_module(soak)
    report = await soak.soak(2, 4, 6, tmp_path, seed=7)
    verdict = soak.show(report)
    assert sum(report.faults.values()) >= 8, report.faults
    assert report.lines > 500 and report.runs >= 4
    assert report.crashes >= 1 and report.incidents >= report.crashes
    assert verdict == "PASS", verdict
