"""Plain data passed from the bridge to widgets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """Columns and rows of text for an inspector tab."""

    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
