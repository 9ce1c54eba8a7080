"""How fast the tariff engine costs readings: `python bench/bench_tariff.py`.

Costs 100,000 readings spread over 2026 (random end times to the second, intervals of 1, 5,
15 and 60 minutes) with the shipped tariffs, vectorised (PlantTariff.cost_many), and compares
with the same engine called once per reading (PlantTariff.cost) on the first 5,000 of them.
Figures are best of a few runs; the machine is shared, so expect noise.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from kilowatch.tariff import PlantTariff, load_tariff  # noqa: E402

CASES = [
    ("cfe-gdmth-noroeste", "America/Hermosillo"),
    ("scl-large-general-seattle", "America/Los_Angeles"),
    ("scl-small-general-seattle", "America/Los_Angeles"),
]
YEAR_START, YEAR_END = 1767225600, 1798761600  # 2026-01-01 and 2027-01-01 UTC
INTERVALS_S = np.array([60, 300, 900, 3600])


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The shortest of `runs` timings of `work()`, in seconds."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def measure(
    plant: PlantTariff, batch: tuple[np.ndarray, ...], scalar: int, runs: int
) -> list[tuple[str, float]]:
    """(method, readings/s) for the loop baseline, the first batch call and later ones."""
    ends, lengths, energy = batch
    cold = best_of(1, lambda: plant.cost_many(ends, lengths, energy))  # builds the year
    warm = best_of(runs, lambda: plant.cost_many(ends, lengths, energy))

    def loop() -> None:
        for i in range(scalar):
            plant.cost(int(ends[i]), int(lengths[i]), float(energy[i]))

    looped = best_of(max(1, runs // 2), loop)
    return [
        ("cost() per reading", scalar / looped),
        ("cost_many, first call", len(ends) / cold),
        ("cost_many", len(ends) / warm),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--scalar", type=int, default=5_000, help="readings for the loop baseline")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(2026)
    batch = (
        rng.integers(YEAR_START + 3600, YEAR_END, args.readings),
        rng.choice(INTERVALS_S, args.readings),
        rng.uniform(0.0, 50.0, args.readings),
    )
    print(f"{args.readings:,} readings over 2026; loop baseline on {args.scalar:,} of them\n")
    header = f"{'tariff':<28}{'method':<22}{'readings/s':>14}{'ratio':>9}"
    print(header)
    print("-" * len(header))
    for tariff_id, zone in CASES:
        tariff = load_tariff(ROOT / "config" / "tariffs" / f"{tariff_id}.yaml")
        rows = measure(PlantTariff(tariff, zone), batch, args.scalar, args.runs)
        baseline = rows[0][1]
        for method, rate in rows:
            print(f"{tariff_id:<28}{method:<22}{rate:>14,.0f}{rate / baseline:>8.1f}x")
    print("\nfirst call: includes building the plant's 2026 timeline (holidays, DST, periods)")


if __name__ == "__main__":
    main()
