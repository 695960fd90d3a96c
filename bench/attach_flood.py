"""Console flood through ``vmtui attach`` over the Unix socket vs the in-process app.

The in-process side is bench/console_flood.py's whole-app run (``run_app``):
producers feed the fleet's merger, the instance screen of vmtui shows it. The
attach side runs the same pool in a daemon process (``vmtui serve``'s app on
a Unix socket, this file started with ``--daemon``) whose producers feed the
same lines; this process runs the same app on a RemoteControl with the same
instance screen open. Both count the bytes that reached the console widget
(end to end, MB/s) and the key -> handler latency while flooding. Rounds
alternate which side goes first; each prints the ratio attach / in-process,
the last line the median.

    python bench/attach_flood.py [--producers 4] [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from console_flood import (
    SIZE,
    config,
    latency_figures,
    make_lines,
    open_console,
    report,
    run_app,
    settle,
)

from vmtui.app import VmtuiApp
from vmtui.backends.fleet.fleet import Fleet
from vmtui.backends.fleet.local import LocalControl
from vmtui.remote.address import parse_address
from vmtui.remote.control import RemoteControl


async def daemon_main(sock: Path, producers: int, line_bytes: int) -> None:
    """The daemon side: the pool behind the API on ``sock``; floods on 'flood S'."""
    from aiohttp import web

    from vmtui.serve.addresses import load_tokens
    from vmtui.serve.daemon import build_app

    with tempfile.TemporaryDirectory() as tmp:
        fleet = Fleet(config(Path(tmp)))
        control = LocalControl(fleet)
        runner = web.AppRunner(build_app(control, load_tokens(Path(tmp) / "state")))
        await runner.setup()
        await web.UnixSite(runner, str(sock)).start()
        await control.start()
        lines = make_lines(50000, line_bytes)
        block = 200
        chunks = [b"".join(lines[i:i + block]) for i in range(0, len(lines), block)]
        print("ready", flush=True)
        while (command := await asyncio.to_thread(sys.stdin.readline)).startswith("flood"):
            console = fleet.record("flood-0").console
            assert console is not None
            stop = time.monotonic() + float(command.split()[1])
            sent = sum(await asyncio.gather(*(produce(console.merger, chunks, k, stop)
                                              for k in range(producers))))
            print(f"sent {sent}", flush=True)
        await runner.cleanup()


async def produce(merger: Any, chunks: list[bytes], k: int, stop: float) -> int:
    """Producer ``k`` of console_flood.py's flood, in the daemon: bytes fed."""
    sent, i = 0, k
    while time.monotonic() < stop:
        chunk = chunks[i % len(chunks)]
        merger.feed(f"p{k}", chunk, tag="console")
        sent += len(chunk)
        i += 1
        await asyncio.sleep(0)
        await merger.pacer.wait()
    return sent


async def run_attach(args: argparse.Namespace) -> dict[str, float]:
    """The attach side: the same app and screen on a RemoteControl."""
    folder = Path(tempfile.mkdtemp(prefix="vmtui-bench-"))
    sock = folder / "d.sock"
    daemon = subprocess.Popen([sys.executable, __file__, "--daemon", str(sock),
                               "--producers", str(args.producers),
                               "--line-bytes", str(args.line_bytes)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert daemon.stdin is not None and daemon.stdout is not None
    try:
        assert daemon.stdout.readline().strip() == "ready"
        control = RemoteControl(parse_address(f"unix:{sock}"))
        await control.connect()
        await control.wait_live(10)
        app = VmtuiApp(control, boot=False)
        async with app.run_test(size=SIZE) as pilot:
            while not control.snapshot() or control.snapshot()[0].state.value != "running":
                await pilot.pause(0.05)
            counted = await open_console(app, pilot)
            view, clock = counted.view, counted.clock
            await pilot.pause(0.3)
            base, latencies = counted.received, []
            cpu0 = (time.process_time(), daemon_cpu(daemon.pid))
            start = time.monotonic()
            daemon.stdin.write(f"flood {args.seconds}\n")
            daemon.stdin.flush()
            sent_line = asyncio.ensure_future(asyncio.to_thread(daemon.stdout.readline))
            while not sent_line.done():
                before, t0 = view.show_source, time.perf_counter()
                app.simulate_key("o")
                while view.show_source == before:
                    await asyncio.sleep(0)
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0.1)
            sent = int((await sent_line).split()[1])
            last_change = await settle(lambda: counted.received, 0.5)
            got = counted.received - base
            cpu = (time.process_time() - cpu0[0], daemon_cpu(daemon.pid) - cpu0[1])
            print(f"  attach: client CPU {cpu[0]:.1f} s, daemon CPU {cpu[1]:.1f} s over "
                  f"{last_change - start:.1f} s", flush=True)
            result = {
                "write_s": clock.spent["write_lines"], "paint_s": clock.spent["render_line"],
                "write_mb_per_s": got / 1e6 / max(clock.spent["write_lines"], 1e-9),
                "painted": clock.painted, "sent_mb": sent / 1e6, "received_mb": got / 1e6,
                "mb_per_s": got / 1e6 / (last_change - start),
                **latency_figures(latencies), "widget_lines": view.line_count,
            }
            await pilot.press("q", "q")
        await control.close()
        return result
    finally:
        daemon.stdin.close()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


def daemon_cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--line-bytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--daemon", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.daemon:
        asyncio.run(daemon_main(args.daemon, args.producers, args.line_bytes))
        return
    lines = make_lines(50000, args.line_bytes)
    print(f"flood: {args.producers} producers, {args.seconds:g}s, {args.line_bytes}-byte "
          f"lines, terminal {SIZE[0]}x{SIZE[1]}, {args.rounds} rounds; "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    ratios, p99s = [], []
    for round_ in range(args.rounds):
        order = ("local", "attach") if round_ % 2 == 0 else ("attach", "local")
        results = {side: asyncio.run(run_app(args, lines) if side == "local"
                                     else run_attach(args)) for side in order}
        report(f"round {round_ + 1}: in-process app", results["local"])
        report(f"round {round_ + 1}: attach over the Unix socket", results["attach"])
        ratios.append(results["attach"]["mb_per_s"] / results["local"]["mb_per_s"])
        p99s.append(results["attach"]["lat_p99_ms"])
        print(f"round {round_ + 1}: ratio attach/in-process {ratios[-1]:.2f}; load "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    print(f"ratios: {', '.join(f'{r:.2f}' for r in ratios)}; attach key p99 (ms): "
          f"{', '.join(f'{p:.1f}' for p in p99s)}")
    print(f"ratio attach vs in-process: {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}); worst key p99 {max(p99s):.1f} ms")


if __name__ == "__main__":
    main()
