"""The bridge's console feed: the lines of each console a screen reads, in
acknowledged batches.

A screen subscribes to one instance's console and gets what the Control still
holds, then news, one batch at a time: the next batch waits until the screen
acknowledges the last, so a flooding guest costs the screen one batch, never a
queue. A screen that is hidden keeps its place and resumes there. Batches go
when a screen acks one (if more lines wait), on the bridge's poll, and, with a
Control that says when lines arrive (:class:`ConsoleNews`: ``vmtui attach``'s,
whose lines come in chunks over a socket), as soon as they do: the bridge
then needs no console poll, and runs its lag check only while the feed is
``reading`` (its busy paces only a console being read).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from textual.message import Message
from textual.message_pump import MessagePump

from vmtui.backends.fleet.control import Control, Line

# Builds the batch message: (name, lines, missed, pending, on_ack).
BatchMaker = Callable[[str, list[Line], int, "str | None", Callable[[], None]], Message]


@runtime_checkable
class ConsoleNews(Protocol):
    """A Control that calls ``callback`` when console lines arrive (an optional
    capability, checked at run time)."""

    def on_console_news(self, callback: Callable[[], None] | None) -> None: ...


@dataclass
class ConsoleSub:
    """Where one screen is in one instance's console."""

    name: str
    cursor: int
    pending: str = ""
    inflight: bool = False  # a batch was posted and not yet acknowledged


class ConsoleFeed:
    """Console batches for every subscribed screen, from ``control``."""

    def __init__(self, control: Control, make_batch: BatchMaker) -> None:
        self.control = control
        self._make_batch = make_batch
        self._subs: dict[MessagePump, ConsoleSub] = {}
        self._paused: dict[MessagePump, ConsoleSub] = {}
        self.on_reading: Callable[[bool], None] | None = None  # told when reading starts/ends
        self._reading = False
        if isinstance(control, ConsoleNews):
            control.on_console_news(self.push_all)

    def subscribe(self, target: MessagePump, name: str) -> None:
        """Send ``target`` the console of ``name``: what the Control holds, then
        news; a target that unsubscribed resumes where it stopped, so it gets the
        lines it missed meanwhile."""
        sub = self._paused.pop(target, None)
        if sub is None or sub.name != name:
            sub = ConsoleSub(name, self.control.console_start(name))
        sub.inflight = False
        self._subs[target] = sub
        self._tell_reading()
        self._push(target, sub)

    def unsubscribe(self, target: MessagePump) -> None:
        """Stop sending to ``target`` (it keeps its place for a later subscribe)."""
        sub = self._subs.pop(target, None)
        if sub is not None:
            self._paused[target] = sub
        self._tell_reading()

    def forget(self, target: MessagePump) -> None:
        """Drop ``target``'s place (its screen is gone)."""
        self._subs.pop(target, None)
        self._paused.pop(target, None)
        self._tell_reading()

    def clear(self) -> None:
        self._subs.clear()
        self._paused.clear()
        self._tell_reading()
        if isinstance(self.control, ConsoleNews):
            self.control.on_console_news(None)

    @property
    def reading(self) -> bool:
        """Whether a screen is subscribed (``on_reading`` says when this changes)."""
        return self._reading

    def _tell_reading(self) -> None:
        """Call ``on_reading`` when the feed starts or stops having subscribers."""
        reading = bool(self._subs)
        if reading != self._reading:
            self._reading = reading
            if self.on_reading is not None:
                self.on_reading(reading)

    def push_all(self) -> None:
        """Send each subscriber what came since its last batch, unless one is on its way."""
        for target, sub in self._subs.items():
            self._push(target, sub)

    def _push(self, target: MessagePump, sub: ConsoleSub) -> None:
        if sub.inflight:
            return
        chunk = self.control.console_since(sub.name, sub.cursor)
        pending = chunk.partial if chunk.partial != sub.pending else None
        if chunk.lines or chunk.missed or pending is not None:
            sub.cursor = chunk.next_cursor
            sub.pending = chunk.partial
            sub.inflight = True
            target.post_message(self._make_batch(
                sub.name, chunk.lines, chunk.missed, pending,
                lambda: self._acked(target, sub)))

    def _acked(self, target: MessagePump, sub: ConsoleSub) -> None:
        sub.inflight = False
        # A flood: the lines that came while the batch was on its way go now.
        if self._subs.get(target) is sub:
            self._push(target, sub)
