"""GET /metrics: Prometheus text from prometheus_client.

A registry of the daemon's own (never the library's global one) holds one
collector that reads the Control at scrape time (nothing is counted twice or
kept between scrapes; the instances come from the shared instance list,
at most ``listing.FRESH`` seconds old) and prometheus_client's ProcessCollector (the daemon's
CPU and memory, under the standard ``process_`` names). The families with a
sample per instance are written by ``exposition`` (incrementally: a line is
made again only when its value moved) after prometheus_client's text. Names follow
Prometheus' conventions: the ``vmtui_`` prefix, base units, ``_total`` on
counters; pool, instance and state are labels. docs/api.md lists them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from operator import attrgetter

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from vmtui.backends.fleet.control import Control, InstanceSnapshot, InstanceState
from vmtui.backends.monitor.detector import LOST_CONNECTION, NO_OUTPUT
from vmtui.serve.exposition import InstanceCounter

VERDICTS = {str(LOST_CONNECTION): "lost", str(NO_OUTPUT): "hung"}


class ControlCollector(Collector):
    """The pools' figures, read from the Control at each scrape."""

    def __init__(self, control: Control,
                 snapshots: Callable[[], list[InstanceSnapshot]] | None = None) -> None:
        self.control = control
        self.snapshots = snapshots or control.snapshot
        self.per_instance = [  # written by exposition, not generate_latest (scrape speed)
            InstanceCounter("vmtui_console_lines", "Console lines an instance printed "
                            "since the daemon started", lambda s: s.lines),
            InstanceCounter("vmtui_console_bytes", "Bytes of console output an instance's VM "
                            "printed since the daemon started (syz-manager: 'vm output')",
                            lambda s: s.console_bytes)]
        self.instance_text = ""  # their text, made by the last collect

    def collect(self) -> Iterator[Metric]:
        snaps = self.snapshots()
        pools = [p.name for p in self.control.pools()]
        states = GaugeMetricFamily("vmtui_instances", "Instances by state",
                                   labels=["pool", "state"])
        by_state = Counter((s.pool, s.state) for s in snaps)
        for pool in pools:
            for state in InstanceState:
                states.add_metric([pool, state.value], by_state[(pool, state)])
        yield states

        self.instance_text = "".join(family.text(snaps) for family in self.per_instance)

        families = {
            "boots": CounterMetricFamily("vmtui_vm_boots", "Boots started (first ones, "
                                         "restarts, resets)", labels=["pool"]),
            "restarts": CounterMetricFamily("vmtui_vm_restarts", "Restarts after a crash or "
                                            "a failed boot, by the farm", labels=["pool"]),
            "crashes": CounterMetricFamily("vmtui_crash", "Crashes and verdicts (hangs, lost "
                                           "VMs) this run (syz-manager: syz_crash_total)",
                                           labels=["pool"]),
            "rounds": CounterMetricFamily("vmtui_farm_rounds", "Workload rounds completed",
                                          labels=["pool"]),
            "booting_seconds": CounterMetricFamily(
                "vmtui_vm_booting_seconds", "Time from each boot's start until it was "
                "running, summed (divide by vmtui_vm_boots_total for the time to ready)",
                labels=["pool"]),
            "up_seconds": CounterMetricFamily("vmtui_vm_up_seconds", "VM processes alive, "
                                              "summed over instances", labels=["pool"]),
        }
        unique = GaugeMetricFamily("vmtui_crash_types", "Distinct crash titles this run "
                                   "(syz-manager's 'crash types')", labels=["pool"])
        by_pool: dict[str, list[InstanceSnapshot]] = {pool: [] for pool in pools}
        for s in snaps:
            by_pool.setdefault(s.pool, []).append(s)
        for pool in pools:
            mine = by_pool[pool]
            counters = [s.counters for s in mine if s.counters is not None]
            for key, family in families.items():
                family.add_metric([pool], sum(map(attrgetter(key), counters)))
            unique.add_metric([pool], self.control.totals(mine).unique)
        yield from families.values()
        yield unique

        verdicts = CounterMetricFamily("vmtui_verdicts", "Verdicts on VMs: lost (the VM "
                                       "process or its host went away) and hung (no output)",
                                       labels=["pool", "verdict"])
        pool_of = {s.name: s.pool for s in snaps}
        seen = Counter((pool_of.get(i.instance, ""), VERDICTS[str(i.title)])
                       for i in self.control.incidents()
                       if i.kind == "verdict" and str(i.title) in VERDICTS)
        for pool in pools:
            for verdict in VERDICTS.values():
                verdicts.add_metric([pool, verdict], seen[(pool, verdict)])
        yield verdicts

        titles = GaugeMetricFamily("vmtui_crash_titles", "Distinct crash titles in the "
                                   "crash folders (earlier runs too)")
        titles.add_metric([], len(self.control.crashes()))
        yield titles


METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


class DaemonRegistry(CollectorRegistry):
    """The registry, and the collector whose per-instance text follows its own."""

    def __init__(self, collector: ControlCollector) -> None:
        super().__init__(auto_describe=False)
        self.collector = collector
        self.register(collector)

    def text(self) -> bytes:
        """The whole scrape (collect runs in generate_latest: the text it made follows)."""
        return generate_latest(self) + self.collector.instance_text.encode()


def registry_for(control: Control, snapshots: Callable[[], list[InstanceSnapshot]] | None = None
                 ) -> DaemonRegistry:
    """The daemon's registry: the Control's figures (its instances from
    ``snapshots``: the shared instance list) and the process's."""
    registry = DaemonRegistry(ControlCollector(control, snapshots))
    ProcessCollector(registry=registry)
    return registry


async def metrics(request: web.Request) -> web.Response:
    """Prometheus' text format (0.0.4)."""
    registry = request.app[METRICS_REGISTRY]
    body = registry.text() if isinstance(registry, DaemonRegistry) else generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
