"""Demand watch overhead: the bridge's array path with the demand projection on, against off.

    python bench/bench_demand.py [--readings 300000] [--repeat 3] [--interval 1.0]

The bridge hook is not in yet (it waits for the house issue's new bridge), so this measures
the bridge's processing path in-process, as the bridge runs it per batch: messages (arrays of
100 readings) → processing core (validate, cost) → line layout → the running bills (readings
pending, added in bulk every 50,000, as kilowatch/bridge/running.py does). "on" adds what the
hook adds: each batch's newest reading per meter noted, and, at most every `--interval`
seconds (the bridge's `demand_watch_interval_s`), the pending readings added and every plant's
demand and budget projections computed and laid out as points. Off and on alternate in the same
process; the ratio is the figure to read (target ≥ 0.95). The cost of one projection of every
plant is printed too, and the ratio if it ran after every batch with no interval.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kilowatch.billing.demand import DemandWatch  # noqa: E402
from kilowatch.billing.running import RunningBill  # noqa: E402
from kilowatch.config import load_config  # noqa: E402
from kilowatch.influx.schema import (  # noqa: E402
    LineLayout,
    budget_watch_line,
    demand_watch_line,
)
from kilowatch.processing import Message, Processor, ReadingColumns  # noqa: E402

PLANT_FILE = ROOT / "config" / "kilowatch.example.yaml"
START_TS = 1_790_000_000  # 2026-09-21
PER_MESSAGE = 100
PER_METER = 2000  # readings per meter: a week of 5-minute readings
MESSAGES_PER_BATCH = 150  # ~15,000 readings: the bridge's batches are cut at 1 MB of payload
FLUSH_READINGS = 50_000  # as kilowatch/bridge/running.py


def messages(readings: int) -> list[list[Message]]:
    """Batches of array messages, meters of both plants interleaved in time as they arrive."""
    meters = [(("hmo", "sea")[n % 2], f"bench-{n:03d}") for n in range(-(-readings // PER_METER))]
    out: list[Message] = []
    for first in range(0, PER_METER, PER_MESSAGE):
        for plant, meter in meters:
            rows = [
                {
                    "ts": START_TS + i * 300,
                    "energy_kwh": 5.0 + i % 13 / 10,
                    "power_kw": 60.0 + i % 7,
                    "reactive_kvarh": 2.0,
                }
                for i in range(first, first + PER_MESSAGE)
            ]
            topic = f"kilowatch/{plant}/{meter}/readings"
            out.append(Message(topic, orjson.dumps(rows), START_TS + (first + PER_MESSAGE) * 300))
    return [out[k : k + MESSAGES_PER_BATCH] for k in range(0, len(out), MESSAGES_PER_BATCH)]


class Path_:
    """The bridge's per-batch path; `watch` adds the demand projection."""

    def __init__(self, watch: bool, interval_s: float) -> None:
        config = load_config(PLANT_FILE)
        self.processor = Processor(config)
        self.layout = LineLayout()
        self.watches = {
            plant: DemandWatch(RunningBill(tariff, plant), budget=1_000_000.0)
            for plant, tariff in self.processor.tariffs.items()
        }
        self.watch = watch
        self.interval_s = interval_s
        self.pending: dict[str, list[ReadingColumns]] = defaultdict(list)
        self.pending_count = 0
        self.next_projection = 0.0
        self.points = 0

    def batch(self, batch: list[Message]) -> int:
        now = batch[-1].received_at
        processed = self.processor.process(batch, now)
        lines = self.layout.batch_lines(processed, batch)
        stored = processed.stored_readings()
        for plant, columns in stored.items():
            self.pending[plant].append(columns)
            self.pending_count += len(columns)
            if self.watch:
                watch, costed = self.watches[plant], processed.costed[plant]
                for meter, _start, stop in columns.runs:
                    newest = costed.readings[stop - 1]  # a message's readings are in ts order
                    power = None if newest.power_kw is None else np.array([newest.power_kw])
                    watch.observe(
                        meter,
                        np.array([newest.ts]),
                        np.array([newest.interval_s]),
                        np.array([newest.energy_kwh]),
                        power,
                    )
        if self.pending_count >= FLUSH_READINGS:
            self.flush()
        if self.watch and time.monotonic() >= self.next_projection:
            self.flush()
            self.points += len(self.project(int(now)))
            self.next_projection = time.monotonic() + self.interval_s
        return sum(map(len, lines))

    def flush(self) -> None:
        pending, self.pending, self.pending_count = self.pending, defaultdict(list), 0
        for plant, batches in pending.items():
            running = self.watches[plant].running
            for columns in batches:
                for meter, start, stop in columns.runs:
                    running.add_many(
                        meter,
                        columns.ts[start:stop],
                        columns.interval_s[start:stop],
                        columns.energy_kwh[start:stop],
                        columns.reactive_kvarh[start:stop],
                    )

    def project(self, now: int) -> list[str]:
        lines = []
        for watch in self.watches.values():
            lines += [demand_watch_line(p) for p in watch.demand(now)]
            lines.append(budget_watch_line(watch.bill(now)))
        return lines


def run(batches: list[list[Message]], *, watch: bool, interval_s: float) -> tuple[float, int]:
    """Readings per second through the path, and the projections' point count."""
    path = Path_(watch, interval_s)
    gc.collect()
    started = time.perf_counter()
    readings = sum(path.batch(batch) for batch in batches)
    path.flush()
    return readings / (time.perf_counter() - started), path.points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between projections")
    args = parser.parse_args()
    batches = messages(args.readings)
    readings = sum(len(orjson.loads(m.payload)) for b in batches for m in b)
    print(f"{readings:,} readings in {sum(map(len, batches)):,} messages, {len(batches)} batches")
    off, on, every = [], [], []
    for _ in range(args.repeat):
        off.append(run(batches, watch=False, interval_s=args.interval)[0])
        rate, points = run(batches, watch=True, interval_s=args.interval)
        on.append(rate)
        every.append(run(batches, watch=True, interval_s=0.0)[0])
    path = Path_(True, 0.0)
    for batch in batches:
        path.batch(batch)
    path.flush()
    now = batches[-1][-1].received_at
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        path.project(int(now))
        timings.append(time.perf_counter() - started)
    best_off, best_on, best_every = max(off), max(on), max(every)
    print(
        f"off:                        {best_off:10,.0f} readings/s (runs: "
        f"{', '.join(f'{r:,.0f}' for r in off)})"
    )
    print(
        f"on, every {args.interval:g} s:              {best_on:10,.0f} readings/s (runs: "
        f"{', '.join(f'{r:,.0f}' for r in on)}), {points} points in the last run"
    )
    print(f"on, after every batch:      {best_every:10,.0f} readings/s")
    print(
        f"one projection of both plants: {statistics.median(timings) * 1000:.1f} ms (median of 20)"
    )
    print(
        f"ratio on/off: {best_on / best_off:.3f} (target >= 0.95); "
        f"after every batch: {best_every / best_off:.3f}"
    )


if __name__ == "__main__":
    main()
