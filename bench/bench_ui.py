"""Console benchmark: frame time (mean, p99), event-loop lag and CPU with 20 symbols on the simulated
market at full speed (sim speed 0: the engine never waits), the app driven headless by Textual's test
harness at 160x50.

Figures printed:
  frame build   our per-frame work (collect dirty panels, build rich Text), ms mean / p99
  paint         Textual's compositor turning the dirty widgets into terminal updates, ms mean / p99
  frame total   upper bound of one frame: build p99 + paint p99, ms  (goal <= 30 ms)
  loop lag      how late a 10 ms timer fires while the market streams, ms mean / p99 / max
  frame CPU     the same in thread CPU time, so a busy shared machine does not inflate it
  UI CPU        (frame build + paint CPU time) / wall time, % of one core  (goal <= 25 %)
  process CPU   the whole process (engine + prism + UI), % of one core
  anchor        events/s of the same engine WITHOUT the console in the same run (mean of a run
                before and one after), and the ratio
                events/s with the console / without (how much the console costs the engine)

Usage: .venv/bin/python bench/bench_ui.py [--seconds 8] [--symbols 20] [--without-prism]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np
from textual._compositor import Compositor

from virtuoso_tui.runtime import build_runtime
from virtuoso_tui.ui.app import VirtuosoApp

BASES = ("BTC", "ETH", "SOL", "XRP", "BNB", "DOGE", "ADA", "AVAX", "LINK", "DOT", "TRX", "LTC", "BCH",
         "NEAR", "APT", "ARB", "OP", "SUI", "ATOM", "FIL", "INJ", "TIA", "SEI", "AAVE")


WITH_PRISM = True


def _runtime(symbols: list[str]):
    return build_runtime(source="sim", symbols=symbols, seed=1, speed=0.0, db_path="", with_prism=WITH_PRISM)


async def _anchor(symbols: list[str], seconds: float) -> float:
    """Events per second of the engine alone, same symbols, same wall time."""
    rt = _runtime(symbols)
    started = time.perf_counter()
    await rt.engine.run(wall_seconds=seconds)
    return rt.engine.events_seen / (time.perf_counter() - started)


async def _with_console(symbols: list[str], seconds: float) -> dict[str, object]:
    rt = _runtime(symbols)
    app = VirtuosoApp(rt, clock=time.time)
    paints: list[float] = []
    cpu_frames: list[float] = []  # thread CPU time: immune to other processes taking the core
    cpu_paints: list[float] = []
    original = Compositor.render_update
    frame = app.frame

    def timed_render_update(self, *args, **kwargs):  # the paint step of every screen update
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            paints.append(time.perf_counter() - t0)
            cpu_paints.append(time.thread_time() - c0)

    def timed_frame() -> None:
        c0 = time.thread_time()
        frame()
        cpu_frames.append(time.thread_time() - c0)

    app.frame = timed_frame  # the frame timer is set up on mount, from this attribute

    Compositor.render_update = timed_render_update
    lags: list[float] = []
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(1.0)  # warm up: first layout, prism warm-up
            app.frame_times.clear()
            for samples in (paints, cpu_frames, cpu_paints):
                samples.clear()
            events0, cpu0, wall0 = rt.engine.events_seen, time.process_time(), time.perf_counter()
            end = wall0 + seconds
            keys = 0
            while time.perf_counter() < end:
                t = loop.time()
                await asyncio.sleep(0.010)
                lags.append(loop.time() - t - 0.010)
                if len(lags) % 50 == 0:  # a trader flicking through symbols and faces meanwhile
                    app.simulate_key("j" if keys % 3 else "2")
                    keys += 1
            wall = time.perf_counter() - wall0
            cpu = time.process_time() - cpu0
            events = rt.engine.events_seen - events0
            frames = list(app.frame_times)
            paint, cpu_frame, cpu_paint = list(paints), list(cpu_frames), list(cpu_paints)
            await pilot.press("q")
    finally:
        Compositor.render_update = original
    return {"wall": wall, "cpu": cpu, "events": events, "frames": frames, "paints": paint, "lags": lags,
            "keys": keys, "cpu_frames": cpu_frame, "cpu_paints": cpu_paint}


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--without-prism", action="store_true", help="measure the console on raw market data only")
    args = parser.parse_args()
    global WITH_PRISM
    WITH_PRISM = not args.without_prism
    symbols = [f"{b}/USDT" for b in BASES[: args.symbols]]

    # the anchor runs before and after the console run: on a shared machine load drifts, the mean evens it
    before = asyncio.run(_anchor(symbols, args.seconds / 2))
    r = asyncio.run(_with_console(symbols, args.seconds))
    anchor = (before + asyncio.run(_anchor(symbols, args.seconds / 2))) / 2
    frames, paints, lags = r["frames"], r["paints"], r["lags"]
    wall = r["wall"]
    # paints are not one-to-one with frames, so the total is bounded by adding the two p99s
    total_p99 = _p(frames, 99) + _p(paints, 99)
    cpu_frames, cpu_paints = r["cpu_frames"], r["cpu_paints"]
    ui_cpu = (sum(cpu_frames) + sum(cpu_paints)) / wall * 100
    rate = r["events"] / wall
    print(f"symbols            {len(symbols)} (sim, speed 0 = full speed), {wall:.1f} s measured, "
          f"{r['keys']} keys sent")
    print(f"frames             {len(frames)} ({len(frames) / wall:.1f} fps)")
    print(f"frame build  ms    mean {statistics.fmean(frames) * 1000 if frames else float('nan'):.2f}"
          f"  p99 {_p(frames, 99):.2f}")
    print(f"paint        ms    mean {statistics.fmean(paints) * 1000 if paints else float('nan'):.2f}"
          f"  p99 {_p(paints, 99):.2f}  ({len(paints)} paints)")
    print(f"frame total  ms    p99 <= {total_p99:.2f} (build p99 + paint p99)   goal <= 30  "
          f"{'OK' if total_p99 <= 30 else 'MISSED'}")
    cpu_total = _p(cpu_frames, 99) + _p(cpu_paints, 99)
    print(f"frame CPU    ms    build p99 {_p(cpu_frames, 99):.2f}  paint p99 {_p(cpu_paints, 99):.2f}  total p99 <= "
          f"{cpu_total:.2f}  (thread CPU time: what the frame costs without other processes' preemption)")
    print(f"loop lag     ms    mean {statistics.fmean(lags) * 1000:.2f}  p99 {_p(lags, 99):.2f}"
          f"  max {max(lags) * 1000:.2f}")
    print(f"UI CPU             {ui_cpu:.1f} % of one core   goal <= 25  {'OK' if ui_cpu <= 25 else 'MISSED'}")
    print(f"process CPU        {r['cpu'] / wall * 100:.1f} % of one core (engine + prism + UI)")
    print(f"anchor             engine alone {anchor:,.0f} events/s; with the console {rate:,.0f} events/s;"
          f" ratio {rate / anchor:.2f}")


if __name__ == "__main__":
    main()
