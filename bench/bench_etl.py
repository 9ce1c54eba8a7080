"""Production ETL throughput: a 1,000,000-row production file validated and loaded into InfluxDB.

    python bench/bench_etl.py [--rows 1000000] [--repeat 1]

The file is a real CSV (date, shift, line, product, units) written to a temporary folder.
Timed in the same run, on the same file:
- baseline: plain `pandas.read_csv` of the file (no checks, nothing written);
- kilowatch: `kilowatch etl production`'s path: read every cell as text (read_table), the
  pandera schema (validate_production: numbers, days, lines, duplicates, order), the
  line-protocol points (production_points) and their write to a real InfluxDB 1.x (started
  on free loopback ports) in 5,000-point batches (write_points).
Rows/s of each stage and the ratio kilowatch / baseline. The machine is shared: read the
ratios, not the absolutes. Target: >= 100,000 rows/s validated and loaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from kilowatch.config import PlantConfig, load_config  # noqa: E402
from kilowatch.etl.frames import read_table  # noqa: E402
from kilowatch.etl.influx import InfluxSettings, write_points  # noqa: E402
from kilowatch.etl.production import ALIASES, production_points, validate_production  # noqa: E402
from tests.support.services import InfluxDB1  # noqa: E402

PLANT_FILE = ROOT / "config" / "kilowatch.example.yaml"
LINES = ("assembly", "utilities")
SHIFTS = ("A", "B", "C")
PRODUCTS = 61
TARGET_ROWS_PER_S = 100_000
T = TypeVar("T")


def write_file(path: Path, rows: int) -> int:
    """A production CSV of about `rows` rows: every day x line x shift x product, days in order."""
    per_day = len(LINES) * len(SHIFTS) * PRODUCTS
    days = pd.date_range("2019-01-01", periods=-(-rows // per_day), freq="D").strftime("%Y-%m-%d")
    combo = np.arange(per_day)
    frame = pd.DataFrame(
        {
            "date": np.repeat(days.to_numpy(), per_day),
            "shift": np.tile(np.array(SHIFTS)[(combo // PRODUCTS) % len(SHIFTS)], len(days)),
            "line": np.tile(np.array(LINES)[combo // (PRODUCTS * len(SHIFTS))], len(days)),
            "product": np.tile(
                np.array([f"part-{k:03d}" for k in range(PRODUCTS)])[combo % PRODUCTS], len(days)
            ),
            "units": (np.arange(len(days) * per_day) % 997) * 1.5,
        }
    ).iloc[:rows]
    frame.to_csv(path, index=False)
    return len(frame)


def timed(label: str, times: dict[str, float], fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = fn()
    times[label] = time.perf_counter() - start
    return result


def run_once(path: Path, plant: PlantConfig, settings: InfluxSettings) -> dict[str, float]:
    """Seconds of the baseline and of each stage of the ETL, on one fresh database."""
    times: dict[str, float] = {}
    timed("baseline: pandas.read_csv", times, lambda: pd.read_csv(path))
    raw = timed("read_table (text cells)", times, lambda: read_table(path, ALIASES))
    checked = timed(
        "validate_production", times, lambda: validate_production(raw, plant, str(path))
    )
    lines = timed("production_points", times, lambda: production_points(checked, "sea"))
    timed(
        "write_points (InfluxDB 1.x)",
        times,
        lambda: write_points(settings, lines, "points", progress=False),
    )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    plant = load_config(PLANT_FILE).plant_by_id["sea"]
    with tempfile.TemporaryDirectory() as folder, InfluxDB1(workdir=Path(folder) / "influx") as db:
        path = Path(folder) / "production.csv"
        rows = write_file(path, args.rows)
        print(f"{rows:,} rows, {path.stat().st_size / 1e6:.1f} MB CSV; InfluxDB {db.url}")
        best: dict[str, float] = {}
        for run in range(args.repeat):
            name = f"bench_{run}"
            db.create_database(name)
            settings = InfluxSettings(db.url, name, version="1")
            times = run_once(path, plant, settings)
            (stored,) = db.query('SELECT count("units") FROM "production"', name)
            assert stored["count"] == rows, stored
            db.drop_database(name)
            for label, seconds in times.items():
                best[label] = min(best.get(label, seconds), seconds)
    baseline = best.pop("baseline: pandas.read_csv")
    total = sum(best.values())
    print(f"{'stage':34} {'seconds':>8} {'rows/s':>12}")
    print(f"{'baseline: pandas.read_csv':34} {baseline:8.2f} {rows / baseline:12,.0f}")
    for label, seconds in best.items():
        print(f"{label:34} {seconds:8.2f} {rows / seconds:12,.0f}")
    print(f"{'kilowatch: validated and loaded':34} {total:8.2f} {rows / total:12,.0f}")
    checked = best["read_table (text cells)"] + best["validate_production"]
    print(
        f"read and validated alone: {rows / checked:,.0f} rows/s, "
        f"{checked / baseline:.1f}x the time of a plain read_csv"
    )
    ratio = total / baseline
    print(f"kilowatch takes {ratio:.1f}x the time of a plain read_csv of the same file")
    verdict = "meets" if rows / total >= TARGET_ROWS_PER_S else "misses"
    print(f"{rows / total:,.0f} rows/s {verdict} the target of {TARGET_ROWS_PER_S:,} rows/s")


if __name__ == "__main__":
    main()
