"""How fast bills, re-costing and the running bill go: `python bench/bench_billing.py`.

- bill: a year of 5-minute readings of one meter (105,120) billed month by month with the
  shipped CFE GDMTH tariff (energy by period, two demand charges, fixed, power factor, IVA);
- re-cost: the vectorised costing of 2,000,000 stored readings (PlantTariff.cost_many), and
  the formatting of re-costed points as line protocol (recost_lines);
- running bill: readings added in bridge-sized batches, and points() for 20 meters.

Every figure is compared with a baseline measured in the same run: one PlantTariff.cost()
call per reading. Figures are best of a few runs; the machine is shared, so expect noise.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from kilowatch.billing import compute_bills  # noqa: E402
from kilowatch.billing.recost import recost_lines  # noqa: E402
from kilowatch.billing.running import RunningBill  # noqa: E402
from kilowatch.tariff import PlantTariff, load_tariff  # noqa: E402

ZONE = "America/Hermosillo"
YEAR_START = 1767250800  # 2026-01-01 00:00 in Hermosillo (UTC-7)
STEP_S = 300
YEAR_READINGS = 105_120


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The shortest of `runs` timings of `work()`, in seconds."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def year_of_readings(rng: np.random.Generator) -> pd.DataFrame:
    ts = YEAR_START + STEP_S * np.arange(1, YEAR_READINGS + 1, dtype=np.int64)
    energy = rng.uniform(5, 15, YEAR_READINGS)
    return pd.DataFrame(
        {"ts": ts, "interval_s": STEP_S, "energy_kwh": energy, "reactive_kvarh": energy * 0.3}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recost", type=int, default=2_000_000, help="readings to re-cost")
    parser.add_argument("--format", type=int, default=100_000, help="points to format")
    parser.add_argument("--scalar", type=int, default=5_000, help="readings for the baseline")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(2026)
    plant = PlantTariff(load_tariff(ROOT / "config/tariffs/cfe-gdmth-noroeste.yaml"), ZONE)
    year = year_of_readings(rng)
    ts, lengths, energy = (year[c].to_numpy() for c in ("ts", "interval_s", "energy_kwh"))
    plant.cost_many(ts, lengths, energy)  # build the year's timeline once

    def loop() -> None:
        for i in range(args.scalar):
            plant.cost(int(ts[i]), int(lengths[i]), float(energy[i]))

    baseline = args.scalar / best_of(args.runs, loop)
    rows: list[tuple[str, float, str]] = [("cost() per reading (baseline)", baseline, "")]

    months = [f"2026-{m:02d}" for m in range(1, 13)]
    bill_s = best_of(args.runs, lambda: compute_bills(plant, year, months))
    rows.append(("bill a year, 12 periods", YEAR_READINGS / bill_s, f"{bill_s:.3f} s"))

    many = args.recost
    recost_ts = YEAR_START + STEP_S * np.arange(1, many + 1, dtype=np.int64) // 20
    recost_len = np.full(many, STEP_S // 20, dtype=np.int64)  # 20 meters' readings interleaved
    recost_energy = rng.uniform(0, 2, many)
    cost_s = best_of(args.runs, lambda: plant.cost_many(recost_ts, recost_len, recost_energy))
    rows.append((f"re-cost: cost_many of {many:,}", many / cost_s, f"{cost_s:.3f} s"))

    points = pd.DataFrame(
        {
            "time": ts[: args.format],
            "energy_kwh": energy[: args.format],
            "interval_s": STEP_S,
            "cost": 0.0,
            "rate": 0.0,
            "seq": np.arange(args.format),
            "power_kw": energy[: args.format] * 12,
            "line": "press",
            "meter": "press-01",
            "period": "base",
            "plant": "hmo",
            "tariff": "old@1",
        }
    )
    types = {
        "energy_kwh": "float",
        "interval_s": "integer",
        "cost": "float",
        "rate": "float",
        "seq": "integer",
        "power_kw": "float",
    }
    format_s = best_of(args.runs, lambda: recost_lines(plant, points, types))
    rows.append((f"re-cost: recost_lines of {args.format:,}", args.format / format_s, ""))

    batch = 400
    feed = min(YEAR_READINGS, 31 * 288 * 4)

    def run_bill() -> RunningBill:
        running = RunningBill(plant, "hmo")
        for k in range(0, feed, batch):
            meter = f"m{(k // batch) % 20}"
            running.add_many(
                meter, ts[k : k + batch], lengths[k : k + batch], energy[k : k + batch]
            )
        return running

    add_s = best_of(1, run_bill)
    rows.append((f"running bill: add_many, batches of {batch}", feed / add_s, ""))
    running = run_bill()
    points_s = best_of(args.runs, lambda: running.points(int(ts[feed - 1])))
    rows.append(("running bill: points(), 20 meters", 0.0, f"{points_s:.3f} s per call"))

    print(f"CFE GDMTH in {ZONE}; baseline: one cost() call per reading on {args.scalar:,}\n")
    header = f"{'what':<44}{'readings/s':>14}{'ratio':>9}  note"
    print(header)
    print("-" * len(header))
    for what, rate, note in rows:
        shown = f"{rate:>14,.0f}{rate / baseline:>8.0f}x" if rate else f"{'':>14}{'':>9}"
        print(f"{what:<44}{shown}  {note}")


if __name__ == "__main__":
    main()
