"""The per-instance families' text (serve/exposition.py) is what
prometheus_client writes for the same family, also after values move and
instances go, and whatever the labels hold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from vmtui.backends.config.pool import parse_config
from vmtui.backends.fleet.fleet import Fleet
from vmtui.serve.exposition import InstanceCounter

HELP = 'Lines "printed"\\ so far\nand more'


@dataclass
class Snap:
    """The fields a per-instance family reads."""

    pool: str
    name: str
    lines: int


def reference(snaps: list[Any]) -> str:
    """prometheus_client's text for the same family."""

    class One(Collector):
        def collect(self) -> Any:
            family = CounterMetricFamily("vmtui_x", HELP, labels=["pool", "instance"])
            for s in snaps:
                family.add_metric([s.pool, s.name], s.lines)
            yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(One())
    return generate_latest(registry).decode()


def test_the_text_is_prometheus_clients_across_scrapes() -> None:
    family = InstanceCounter("vmtui_x", HELP, lambda s: s.lines)
    snaps = [Snap("p", "p-0", 0), Snap('we"ird\\', "a\nb", 5), Snap("p", "p-1", 12345678)]
    assert family.text(snaps) == reference(snaps)  # type: ignore[arg-type]
    snaps[0].lines = 7  # a value moved: its line is made again
    assert family.text(snaps) == reference(snaps)  # type: ignore[arg-type]
    del snaps[1]  # an instance went: its line goes
    assert family.text(snaps) == reference(snaps)  # type: ignore[arg-type]
    assert family.text([]) == reference([])
    parsed = {s.labels["instance"]: s.value
              for f in text_string_to_metric_families(family.text(snaps))  # type: ignore[arg-type]
              for s in f.samples}
    assert parsed == {"p-0": 7, "p-1": 12345678}


def test_real_snapshots(tmp_path: Path) -> None:
    fleet = Fleet(parse_config({"name": "p", "type": "scripted", "count": 3,
                                "workdir": str(tmp_path)}, file="<test>", base_dir=tmp_path))
    snaps = fleet.snapshot()
    family = InstanceCounter("vmtui_x", HELP, lambda s: s.lines)
    assert family.text(snaps) == reference(snaps)
    assert family.text(snaps) == reference(snaps)  # kept lines, same text
