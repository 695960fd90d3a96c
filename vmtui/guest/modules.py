"""The kernel modules of the guest: found in the unpacked kernel package, and
ordered so each loads after what it depends on (busybox insmod has no modprobe)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path


def module_index(root: Path) -> dict[str, Path]:
    return {p.name[:-3].replace("-", "_"): p
            for p in (root / "lib" / "modules").glob("*/kernel/**/*.ko")}


def module_deps(path: Path) -> list[str]:
    data = path.read_bytes()
    m = re.search(rb"depends=([A-Za-z0-9_,-]*)\0", data)
    if not m or not m.group(1):
        return []
    return [d.decode().replace("-", "_") for d in m.group(1).split(b",")]


def module_order(index: dict[str, Path], wanted: Iterable[str]) -> list[str]:
    """The wanted modules that exist, each after what it depends on."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order or name not in index:
            return
        for dep in module_deps(index[name]):
            visit(dep)
        order.append(name)

    for name in wanted:
        visit(name)
    return order
