"""Prometheus text for per-instance counters, written incrementally.

prometheus_client's ``generate_latest`` formats every sample afresh (label
names checked and escaped, the value converted): with 1,000 instances that was
most of a /metrics scrape. An instance's labels never change and most of its
values do not between two scrapes, so each instance's line is kept and made
again only when its value moved. The text is the one ``generate_latest``
writes for a ``CounterMetricFamily`` with ``pool`` and ``instance`` labels
(tests/test_serve_exposition.py compares them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

from prometheus_client.utils import floatToGoString

from vmtui.backends.fleet.records import InstanceSnapshot

_go = cast(Callable[[float], str], floatToGoString)  # the library's, untyped


def _label(value: str) -> str:
    """A label value as the text format quotes it."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class InstanceCounter:
    """One counter family with a sample per instance, labelled pool and instance.

    Args:
        name: the family's name without ``_total``.
        documentation: its HELP text.
        value: the instance's value, from its snapshot.
    """

    def __init__(self, name: str, documentation: str,
                 value: Callable[[InstanceSnapshot], float]) -> None:
        self.name = f"{name}_total"
        self.header = f"# HELP {self.name} {_help(documentation)}\n# TYPE {self.name} counter\n"
        self.value = value
        self._lines: dict[tuple[str, str], tuple[float, str]] = {}

    def text(self, snaps: Iterable[InstanceSnapshot]) -> str:
        """The family's text for ``snaps`` (instances no longer there are forgotten)."""
        known, kept = self._lines, {}
        out = [self.header]
        for s in snaps:
            key = (s.pool, s.name)
            value = self.value(s)
            line = known.get(key)
            if line is None or line[0] != value:
                line = (value, f'{self.name}{{instance="{_label(s.name)}",'
                               f'pool="{_label(s.pool)}"}} {_go(value)}\n')
            kept[key] = line
            out.append(line[1])
        self._lines = kept
        return "".join(out)
