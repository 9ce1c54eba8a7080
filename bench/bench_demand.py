"""Demand watch overhead: the bridge's array throughput with the demand projection on vs off.

    python bench/bench_demand.py [--array-readings 500000] [--repeat 3]

The real `kilowatch bridge` drains the same queued array messages (100 readings each) from a
real Mosquitto into a real InfluxDB 1.x, alternately with `KILOWATCH_DEMAND_WATCH=false` and
`true` (the default: the running bills brought up to date and every plant's demand and budget
projected at most every second, after a stored batch), in one run. It reuses
bench/bench_bridge.py's queueing and timing (the bridge timed on its own clock from its
connection to the health point that counts every reading). The readings end now, a week of
5-minute readings per meter, so that the projections work on the current billing period as
they do live. Target: on ≥ 0.95 × off. The machine is shared and its speed moves between
drains: the bridge's CPU per reading (its own user+system time) is the steadier ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_bridge  # noqa: E402

from tests.support.services import InfluxDB1, Mosquitto  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--array-readings", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3, help="drains per setting")
    args = parser.parse_args()
    # Readings up to now: the projection then has the current period's data to work on.
    bench_bridge.START_TS = int(time.time()) // 300 * 300 - bench_bridge.READINGS_PER_METER * 300
    arrays = bench_bridge.payloads(args.array_readings, 100)
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    points = 0
    with Mosquitto() as broker, InfluxDB1() as influx:
        for attempt in range(args.repeat):
            for watch in (False, True):
                os.environ["KILOWATCH_DEMAND_WATCH"] = "true" if watch else "false"
                client_id = f"bench-demand-{'on' if watch else 'off'}-{os.getpid()}-{attempt}"
                bench_bridge.queue_for(broker, client_id, arrays)
                result = bench_bridge.run_bridge(broker, influx, client_id, args.array_readings)
                rates[watch].append(result.rate)
                cpu[watch].append(result.cpu_us)
                print(
                    f"demand watch {'on ' if watch else 'off'}: {result.rate:10,.0f} readings/s, "
                    f"bridge CPU {result.cpu_us:.2f} µs/reading",
                    flush=True,
                )
                if watch:
                    database = client_id.replace("-", "_")
                    rows = influx.query('SELECT count("projected_kw") FROM demand_watch', database)
                    points = int(rows[0]["count"]) if rows else 0
    off, on = max(rates[False]), max(rates[True])
    median_off, median_on = statistics.median(rates[False]), statistics.median(rates[True])
    cpu_off, cpu_on = min(cpu[False]), min(cpu[True])
    print(
        f"\n{args.array_readings:,} readings in arrays of 100; {args.repeat} drains each, "
        f"alternating\n"
        f"off: best {off:,.0f}, median {median_off:,.0f} readings/s, bridge CPU {cpu_off:.2f} "
        f"µs/reading\n"
        f"on:  best {on:,.0f}, median {median_on:,.0f} readings/s, bridge CPU {cpu_on:.2f} "
        f"µs/reading ({points} demand_watch points in the last drain)\n"
        f"ratio on/off: best {on / off:.3f}, median {median_on / median_off:.3f}, "
        f"CPU per reading {cpu_off / cpu_on:.3f} (target >= 0.95)"
    )


if __name__ == "__main__":
    main()
