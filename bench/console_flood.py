"""Console flood benchmark: how fast console bytes reach the console widget.

N producers push console lines through the fleet (merger -> ring -> bridge
batches) into the running app, headless, with an instance screen open. The
same run repeats the same flood into Textual's stock ``Log.write_lines`` fed
by the same bridge batches, as the reference. While flooding, a key is
pressed every 100 ms and the time until its handler has run is recorded.

The producers outrun any screen: the fleet keeps every byte on disk and the
last 10,000 lines in its ring, and the bridge hands the widget the next batch
as soon as it has taken the previous one, so what reaches the widget is what
the UI side (widget, painting, Textual) sustains.

Prints, for each: MB/s that reached the widget end to end (of how many sent);
the CPU seconds the widget spends taking lines in (its write capacity, a
noisy figure: collector pauses land where they land) and painting them, with
how many screen lines it painted (the stock Log, once full, repaints only
when something else does, so it shows less of the flood); key latency
(worst, p99); peak RSS. The two widgets run in alternating order over several
rounds in one run; each round gives the ratio of their sustained end-to-end
rates, and the last line is ``ratio vs stock Log: X.XX``, the median of the
rounds (the line before gives its spread), so one noisy round cannot flip it.

    python bench/console_flood.py [--producers 4] [--seconds 8] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Log

from vmtui.app import VmtuiApp, calm_collector
from vmtui.backends.config.pool import parse_config
from vmtui.backends.console.ring import TEXT
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.bridge import Bridge
from vmtui.screens.instance import InstanceScreen
from vmtui.widgets.console_view import ConsoleView

SIZE = (160, 48)


def config(workdir: Path) -> Any:
    return parse_config({"name": "flood", "type": "scripted", "count": 1,
                         "workdir": str(workdir), "console_lines": 10000},
                        file="<bench>", base_dir=workdir)


class WidgetClock:
    """Counts the seconds a widget spends writing lines and painting them."""

    def __init__(self, widget: Any) -> None:
        self.spent = {"write_lines": 0.0, "render_line": 0.0}
        self.painted = 0
        for name in self.spent:
            setattr(widget, name, self._timed(name, getattr(widget, name)))

    @property
    def seconds(self) -> float:
        return sum(self.spent.values())

    def _timed(self, name: str, method: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - start
                if name == "render_line":
                    self.painted += 1
        return timed


class CountingView:
    """The instance screen's console view, counting the bytes that reach it
    (``received``) and timing its writing and painting (``clock``)."""

    def __init__(self, view: ConsoleView) -> None:
        self.view = view
        self.received = 0
        original = view.write_lines

        def counting(batch: Any, pending: str | None = None) -> None:
            batch = list(batch)
            self.received += batch_bytes(batch)
            original(batch, pending)

        view.write_lines = counting  # type: ignore[method-assign,assignment]
        self.clock = WidgetClock(view)


async def open_console(app: VmtuiApp, pilot: Any) -> CountingView:
    """Open the selected instance's screen (Enter); its console view, counted."""
    await pilot.press("enter")
    screen = app.screen
    assert isinstance(screen, InstanceScreen)
    return CountingView(screen.query_one(ConsoleView))


async def settle(received: Callable[[], int], quiet: float) -> float:
    """Wait until nothing came for ``quiet`` seconds; when the last byte came."""
    last, last_change = received(), time.monotonic()
    while time.monotonic() - last_change < quiet:
        await asyncio.sleep(0.01)
        if received() != last:
            last, last_change = received(), time.monotonic()
    return last_change


def latency_figures(latencies: list[float]) -> dict[str, float]:
    """Key latency figures in ms (worst, p99, median) and the presses."""
    latencies = sorted(latencies)
    if not latencies:
        return {"lat_max_ms": 0.0, "lat_p99_ms": 0.0, "lat_median_ms": 0.0, "presses": 0}
    return {"lat_max_ms": latencies[-1] * 1000,
            "lat_p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
            "lat_median_ms": statistics.median(latencies) * 1000,
            "presses": len(latencies)}


def batch_bytes(lines: list[Any]) -> int:
    """Bytes of ``lines`` as they came in (text and newline)."""
    return sum(map(len, map(itemgetter(TEXT), lines))) + len(lines)


def make_lines(count: int, width: int) -> list[bytes]:
    body = "x" * max(0, width - 40)
    return [f"[{i / 1000:12.6f}] flood line {i:08d} {body}\n".encode() for i in range(count)]


class FloodScreen(Screen[None]):
    """A console widget fed by the bridge's batches, and nothing else on screen."""

    def __init__(self, bridge: Bridge, name: str, stock: bool) -> None:
        super().__init__()
        self.bridge = bridge
        self.instance_name = name
        self.stock = stock
        self.received = 0

    def compose(self) -> ComposeResult:
        yield Log(max_lines=10000, id="log") if self.stock else ConsoleView(10000, id="log")

    def on_mount(self) -> None:
        self.clock = WidgetClock(self.query_one("#log"))
        self.bridge.subscribe_console(self, self.instance_name)

    def on_bridge_console_batch(self, message: Bridge.ConsoleBatch) -> None:
        self.received += batch_bytes(message.lines)
        widget = self.query_one("#log")
        if isinstance(widget, Log):
            widget.write_lines([line[TEXT] for line in message.lines])
        else:
            widget.write_lines(message.lines)
        message.ack()

    @property
    def line_count(self) -> int:
        return int(self.query_one("#log").line_count)  # type: ignore[attr-defined]


class BenchApp(App[None]):
    """Just the bridge and a flood screen; a key that only flips a flag."""

    BINDINGS = [("f12", "flip", "flip")]

    def __init__(self, fleet: Fleet) -> None:
        super().__init__()
        self.fleet = fleet
        self.bridge = Bridge(self, LocalControl(fleet))
        self.flag = False

    def on_mount(self) -> None:
        calm_collector()  # as vmtui's app does once it has started
        self.bridge.start(boot=True)

    def action_flip(self) -> None:
        self.flag = not self.flag

    async def on_unmount(self) -> None:
        await self.bridge.close()


async def flood(app: Any, fleet: Fleet, producers: int, seconds: float, lines: list[bytes],
                received: Any, toggle: Any, key: str, clock: WidgetClock) -> dict[str, float]:
    """Run the flood inside ``app`` (already running under run_test)."""
    console = fleet.record("flood-0").console
    assert console is not None
    merger = console.merger
    sent = 0
    stop = time.monotonic() + seconds

    # What a pipe read would hand the merger: about 20 KB of whole lines.
    block = 200
    chunks = [b"".join(lines[i:i + block]) for i in range(0, len(lines), block)]

    async def produce(k: int) -> None:
        nonlocal sent
        i = k
        while time.monotonic() < stop:
            chunk = chunks[i % len(chunks)]
            merger.feed(f"p{k}", chunk, tag="console")
            sent += len(chunk)
            i += 1
            await asyncio.sleep(0)  # let the app run, as a reader task would
            await merger.pacer.wait()  # and back off while the UI lags, as it does

    latencies: list[float] = []

    async def press_keys() -> None:
        while time.monotonic() < stop:
            before = toggle()
            start = time.perf_counter()
            app.simulate_key(key)
            while toggle() == before:
                await asyncio.sleep(0)
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(0.1)

    start = time.monotonic()
    base = received()
    base_write, base_paint = clock.spent["write_lines"], clock.spent["render_line"]
    base_painted = clock.painted
    await asyncio.gather(*(produce(k) for k in range(producers)), press_keys())
    # Let the last batches land; the clock stops at the last byte received.
    elapsed = await settle(received, 0.3) - start
    got = received() - base
    write_s = clock.spent["write_lines"] - base_write
    paint_s = clock.spent["render_line"] - base_paint
    return {
        "write_s": write_s, "paint_s": paint_s, "write_mb_per_s": got / 1e6 / write_s,
        "painted": clock.painted - base_painted,
        "sent_mb": sent / 1e6, "received_mb": got / 1e6, "mb_per_s": got / 1e6 / elapsed,
        **latency_figures(latencies),
    }


async def run_app(args: argparse.Namespace, lines: list[bytes]) -> dict[str, float]:
    """The whole instance screen of vmtui (inspector, status line, diagnose bar)."""
    with tempfile.TemporaryDirectory() as tmp:
        fleet = Fleet(config(Path(tmp)))
        app = VmtuiApp(LocalControl(fleet))
        async with app.run_test(size=SIZE) as pilot:
            while fleet.instance("flood-0") is None:
                await pilot.pause(0.05)
            counted = await open_console(app, pilot)
            view = counted.view
            # "o" toggles source labels: a real key of the screen, cheap to apply.
            result = await flood(app, fleet, args.producers, args.seconds, lines,
                                 lambda: counted.received, lambda: view.show_source, "o",
                                 counted.clock)
            result["widget_lines"] = view.line_count
            await app.bridge.close()
        return result


async def run_widget(args: argparse.Namespace, lines: list[bytes],
                     stock: bool) -> dict[str, float]:
    """One console widget alone on a screen, fed through the same fleet and bridge."""
    with tempfile.TemporaryDirectory() as tmp:
        app = BenchApp(Fleet(config(Path(tmp))))
        async with app.run_test(size=SIZE) as pilot:
            while app.fleet.instance("flood-0") is None:
                await pilot.pause(0.05)
            screen = FloodScreen(app.bridge, "flood-0", stock)
            await app.push_screen(screen)
            result = await flood(app, app.fleet, args.producers, args.seconds, lines,
                                 lambda: screen.received, lambda: app.flag, "f12",
                                 screen.clock)
            result["widget_lines"] = screen.line_count
        return result


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(label: str, r: dict[str, float]) -> None:
    print(f"{label}:\n"
          f"  end to end {r['mb_per_s']:.2f} MB/s into the widget "
          f"({r['received_mb']:.1f} of {r['sent_mb']:.1f} MB sent reached it)\n"
          f"  widget CPU: writing {r['write_s']:.2f} s -> {r['write_mb_per_s']:.1f} MB/s "
          f"capacity; painting {r['paint_s']:.2f} s for {r['painted']:.0f} screen lines "
          f"(~{r['painted'] / SIZE[1]:.0f} screenfuls)\n"
          f"  key latency max {r['lat_max_ms']:.1f} ms, p99 {r['lat_p99_ms']:.1f} ms, "
          f"median {r['lat_median_ms']:.1f} ms ({r['presses']:.0f} presses); "
          f"widget holds {r['widget_lines']:.0f} lines")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--line-bytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of (ours, stock), alternating which goes first")
    args = parser.parse_args()
    lines = make_lines(50000, args.line_bytes)
    print(f"flood: {args.producers} producers, {args.seconds:g}s, "
          f"{args.line_bytes}-byte lines, terminal {SIZE[0]}x{SIZE[1]}, {args.rounds} rounds")
    full = asyncio.run(run_app(args, lines))
    report("vmtui instance screen (whole app)", full)
    ratios: list[float] = []
    p99s: list[float] = []
    for round_ in range(args.rounds):
        # Alternate which widget goes first, so a machine that gets busier or
        # calmer during the run does not favour one of them.
        order = (False, True) if round_ % 2 == 0 else (True, False)
        results = {stock: asyncio.run(run_widget(args, lines, stock=stock)) for stock in order}
        ours, stock = results[False], results[True]
        report(f"round {round_ + 1}: vmtui ConsoleView alone", ours)
        report(f"round {round_ + 1}: stock Log.write_lines alone", stock)
        ratios.append(ours["mb_per_s"] / stock["mb_per_s"])
        p99s.append(ours["lat_p99_ms"])
        print(f"round {round_ + 1}: ratio {ratios[-1]:.2f}", flush=True)
    print(f"peak RSS: {rss_mb():.0f} MB")
    print(f"ratios: {', '.join(f'{r:.2f}' for r in ratios)}; key p99 with ConsoleView "
          f"(ms): {', '.join(f'{p:.1f}' for p in p99s)}")
    print(f"median ratio {statistics.median(ratios):.2f} (min {min(ratios):.2f}, "
          f"max {max(ratios):.2f}); worst key p99 {max(p99s):.1f} ms")
    print(f"ratio vs stock Log: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
