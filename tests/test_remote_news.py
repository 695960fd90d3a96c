"""Console news on the client: a RemoteControl says when a chunk brought the
watched console lines, and the bridge's console feed listens (the front reads
them then, not at its next poll, before the mirror's ring moves past them).
Busy is told to the daemon only while a console is watched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.remote_helpers import connected, daemon, scripted_yaml, until
from vmtui.app import VmtuiApp
from vmtui.backends.fleet.control import ConsoleChunk, Line
from vmtui.bridge.consoles import ConsoleFeed, ConsoleNews
from vmtui.remote.control import RemoteControl
from vmtui.screens.instance import InstanceScreen


async def test_a_chunk_with_lines_is_news(tmp_path: Path) -> None:
    config = scripted_yaml(tmp_path / "p.yaml", "p", 1, tmp_path / "w", lines=["boot"])
    with daemon(tmp_path, [config]) as d:
        control = await connected(d)
        try:
            assert isinstance(control, ConsoleNews)
            news: list[int] = []
            control.on_console_news(lambda: news.append(1))
            await until(lambda: control.snapshot() and control.snapshot()[0].lines, 10)
            sent: list[dict[str, Any]] = []
            send = control._send
            control._send = lambda m: (sent.append(m), send(m))[1]  # type: ignore[method-assign]
            for busy in (True, False, True):  # a front lagging on the pool screen
                control.set_busy(busy)
            assert not [m for m in sent if m["op"] == "busy"]  # paces nothing: not sent
            control.console_start("p-0")  # watch it: the first chunk brings "boot"
            assert [m for m in sent if m["op"] == "busy"] == [{"op": "busy", "busy": True}]
            control.set_busy(False)
            assert [m for m in sent if m["op"] == "busy"][-1] == {"op": "busy", "busy": False}
            await until(lambda: news, 10, "news of the first chunk")
            seen = len(news)
            await control.type_into("p-0", b"typed\n")
            await until(lambda: len(news) > seen, 10, "news of the typed line")
            texts = [line[2] for line in control.console_since("p-0", 0).lines]
            assert "typed" in texts
            control.on_console_news(None)  # no callback: nothing is called
            seen = len(news)
            await control.type_into("p-0", b"again\n")
            await until(lambda: "again" in [line[2] for line in
                                            control.console_since("p-0", 0).lines], 10)
            assert len(news) == seen
        finally:
            await control.close()


class _Target:
    """A screen's stand-in: it keeps what the feed posts."""

    def __init__(self) -> None:
        self.posted: list[Any] = []

    def post_message(self, message: Any) -> bool:
        self.posted.append(message)
        return True


class _Control:
    """The Control calls the feed makes, with news: lines added by the test."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.callback: Any = None

    def on_console_news(self, callback: Any) -> None:
        self.callback = callback

    def console_start(self, name: str) -> int:
        return 0

    def console_since(self, name: str, cursor: int) -> ConsoleChunk:
        return ConsoleChunk(self.lines[cursor:], 0, len(self.lines), "")


def test_the_feed_pushes_on_news_one_batch_at_a_time() -> None:
    control = _Control()
    feed = ConsoleFeed(control, lambda name, lines, missed, pending, ack:  # type: ignore[arg-type]
                       (lines, ack))
    assert control.callback == feed.push_all  # it listens from the start
    target = _Target()
    feed.subscribe(target, "x")  # type: ignore[arg-type]
    assert target.posted == []  # nothing yet
    control.lines.append((0, "console", "a", 1.0))
    control.callback()
    assert [lines for lines, _ in target.posted] == [[(0, "console", "a", 1.0)]]
    control.lines.append((1, "console", "b", 1.0))
    control.callback()  # a batch is out, not acked: news waits
    assert len(target.posted) == 1
    target.posted[0][1]()  # the ack: what came meanwhile goes
    assert [lines for lines, _ in target.posted][1] == [(1, "console", "b", 1.0)]
    feed.clear()
    assert control.callback is None


def test_a_remote_control_is_console_news() -> None:
    assert issubclass(RemoteControl, ConsoleNews)


def test_the_feed_says_when_reading_starts_and_ends() -> None:
    feed = ConsoleFeed(_Control(), lambda *args: args)  # type: ignore[arg-type,return-value]
    told: list[bool] = []
    feed.on_reading = told.append
    first, second = _Target(), _Target()
    feed.subscribe(first, "x")  # type: ignore[arg-type]
    feed.subscribe(second, "x")  # type: ignore[arg-type]
    assert told == [True] and feed.reading
    feed.unsubscribe(first)  # type: ignore[arg-type]
    assert told == [True]  # the other still reads
    feed.forget(second)  # type: ignore[arg-type]
    assert told == [True, False] and not feed.reading
    feed.subscribe(first, "x")  # type: ignore[arg-type]
    feed.clear()
    assert told == [True, False, True, False]


async def test_an_attached_front_polls_no_console_and_checks_lag_only_while_reading(
        tmp_path: Path) -> None:
    config = scripted_yaml(tmp_path / "p.yaml", "p", 1, tmp_path / "w", lines=["boot"])
    with daemon(tmp_path, [config]) as d:
        control = await connected(d)
        app = VmtuiApp(control, boot=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(lambda: control.snapshot() and control.snapshot()[0].lines, 10)
            timers = {t.name: t for t in app.bridge._timers}
            assert "console-poll" not in timers  # the lines come with news
            lag = timers["lag"]
            assert not lag._active.is_set()  # the pool screen: nothing to pace
            await pilot.press("enter")
            assert isinstance(app.screen, InstanceScreen)
            await until(lambda: lag._active.is_set(), 5, "the lag check while reading")
            await until(lambda: any(line[2] == "boot" for line in
                                    control.console_since("p-0", 0).lines), 10)
            await pilot.press("escape")
            await until(lambda: not lag._active.is_set(), 5, "no lag check after")
        await control.close()
