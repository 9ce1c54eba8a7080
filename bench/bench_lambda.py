"""The ingest Lambda's handler against the bridge's processing of the same messages.

    python bench/bench_lambda.py [--records 10000] [--readings 100] [--repeat 3]

One Kinesis batch of `--records` records, each an array of `--readings` readings shaped as the
IoT rule puts them on the stream (base64 data of a JSON envelope holding the base64 MQTT
payload), and the same MQTT messages as the bridge holds them. In this one process:
- CPU only (no I/O), readings/s, best of `--repeat` runs taken in turns with the baseline:
  bridge  = `Processor.process` + `LineLayout.batch_lines` on the messages (the bridge's main
            thread), the baseline;
  lambda  = decoding every record + the same processing + the Lambda's layout (`IngestApp`);
- with I/O, into a real InfluxDB 1.x this script starts (a fresh database per run, dropped
  after it), likewise in turns:
  bridge  = the same processing + `write_with_retry` in 5,000-line writes (one writer thread;
            the bridge writes with two);
  lambda  = `IngestApp.handle(records)` (decode, process, lay out, write in 5,000-line
            writes; Firehose and receipts off: no AWS here).
Then the cold start: the handler module imported in a fresh interpreter (median of 5), and the
deployment package built by cdk/kilowatch_cdk/packaging.py, zipped.

A real Lambda event is at most 6 MB, so a real batch of such arrays holds ~1,000 records; the
10,000 records here follow issue 14's figure. The machine is shared: read the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "cdk" / "kilowatch_cdk" / "processing" / "runtime"
PLANT_FILE = ROOT / "config" / "kilowatch.example.yaml"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(RUNTIME))
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "kilowatch-ingest")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "kilowatch")

import handler  # noqa: E402
import orjson  # noqa: E402

from kilowatch.config import load_config  # noqa: E402
from kilowatch.influx.schema import LineLayout  # noqa: E402
from kilowatch.influx.writer import (  # noqa: E402
    InfluxTarget,
    RetryPolicy,
    open_writer,
    write_with_retry,
)
from kilowatch.processing import Message, Processor  # noqa: E402
from tests.cdk.processing.events import kinesis_event  # noqa: E402
from tests.support.services import InfluxDB1  # noqa: E402

INTERVAL_S = 300
WRITE_LINES = 5000
IMPORT_BUDGET_S = 1.0
PACKAGE_BUDGET_MB = 50.0


def table(records: int, readings: int, now: float) -> list[tuple[str, bytes]]:
    """`records` arrays of `readings` readings, round-robin over the plant file's meters, each
    meter's readings consecutive and ending an hour ago."""
    config = load_config(PLANT_FILE)
    meters = [(plant.id, meter) for plant in config.plants for meter in plant.line_of_meter]
    per_meter = -(-records // len(meters)) * readings
    end = int(now - 3600) // INTERVAL_S * INTERVAL_S
    out = []
    for number in range(records):
        plant, meter = meters[number % len(meters)]
        first = end - (per_meter - (number // len(meters)) * readings) * INTERVAL_S
        body = [
            {"ts": first + k * INTERVAL_S, "energy_kwh": 1.25 + (k % 17) / 8, "seq": number}
            for k in range(readings)
        ]
        out.append((f"kilowatch/{plant}/{meter}/readings", orjson.dumps(body)))
    return out


def best_of_rounds(
    runs: int, works: dict[str, Callable[[], int]], readings: int
) -> dict[str, float]:
    """The shortest of `runs` timings of each work() (which returns the readings it handled),
    taken in turns (A, B, A, B...): neither side always runs on a busier machine."""
    times: dict[str, list[float]] = {label: [] for label in works}
    for _ in range(runs):
        for label, work in works.items():
            start = time.perf_counter()
            stored = work()
            times[label].append(time.perf_counter() - start)
            assert stored == readings, (label, stored)
    return {label: min(values) for label, values in times.items()}


def settings(influx_url: str, database: str) -> Any:
    return handler.IngestSettings(
        config=PLANT_FILE,
        influx_url=influx_url,
        influx_bucket=database,
        influx_version="1",
        batch_size=WRITE_LINES,
        plant_info_interval_s=0,
    )


def import_seconds(samples: int = 5) -> float:
    """Median time to import the handler module in a fresh interpreter (cold start's import)."""
    code = "import time; t = time.perf_counter(); import handler; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": f"{RUNTIME}{os.pathsep}{ROOT}"}
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(samples)
    ]
    return statistics.median(times)


def package_mb() -> float:
    """The processing Lambda's asset (built or reused by packaging.py), zipped, in MB."""
    sys.path.insert(0, str(ROOT / "cdk"))
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from kilowatch_cdk.packaging import build_lambda_asset, zipped_size_bytes

    asset = build_lambda_asset(plant_file=PLANT_FILE)
    return zipped_size_bytes(asset.path) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--readings", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-package", action="store_true", help="skip the asset build")
    args = parser.parse_args()

    now = time.time()
    mqtt = table(args.records, args.readings, now)
    event = kinesis_event(mqtt, received_at_ms=int(now * 1000))
    records = event["Records"]
    total = args.records * args.readings
    data_mb = sum(len(r["kinesis"]["data"]) for r in records) / 1e6
    print(f"{args.records:,} records x {args.readings} readings = {total:,} readings")
    print(f"event data {data_mb:.1f} MB (base64 of base64)")

    processor = Processor(load_config(PLANT_FILE))
    received = [Message(topic, payload, now) for topic, payload in mqtt]
    layout = LineLayout()  # one per process, as in the bridge

    def bridge_cpu() -> int:
        processed = processor.process(received, now)
        layout.batch_lines(processed, received)
        return processed.readings

    with InfluxDB1() as influx:
        app = handler.IngestApp(settings(influx.url, "unused"), processor, _NoWriter())

        def lambda_cpu() -> int:
            messages = [handler.decode_record(record).message for record in records]
            processed = processor.process(messages, now)
            app.lines(processed, messages)
            return processed.readings

        databases = iter(range(10_000))
        policy = RetryPolicy(max_attempts=5)

        def bridge_io() -> int:
            database = f"bridge_{next(databases)}"
            influx.create_database(database)
            writer = open_writer(InfluxTarget(url=influx.url, bucket=database), "1")
            processed = processor.process(received, now)
            lines = [x for per in layout.batch_lines(processed, received) for x in per]
            for start in range(0, len(lines), WRITE_LINES):
                write_with_retry(writer, lines[start : start + WRITE_LINES], policy)
            writer.close()
            influx.drop_database(database)  # not compacted under the next run
            return processed.readings

        def lambda_io() -> int:
            database = f"lambda_{next(databases)}"
            influx.create_database(database)
            writer = open_writer(InfluxTarget(url=influx.url, bucket=database), "1")
            ingest = handler.IngestApp(settings(influx.url, database), processor, writer)
            outcome = ingest.handle(records)
            assert not outcome.failed, outcome.failed[:3]
            writer.close()
            influx.drop_database(database)
            return sum(outcome.stored_by_plant.values())

        figures = {}
        for works in (
            {
                "bridge processing (CPU only)": bridge_cpu,
                "lambda handler (CPU only)": lambda_cpu,
            },
            {
                "bridge processing + InfluxDB writes": bridge_io,
                "lambda handler + InfluxDB writes": lambda_io,
            },
        ):
            for label, seconds in best_of_rounds(args.repeat, works, total).items():
                figures[label] = total / seconds
                print(f"{label:38s} {seconds:7.2f} s  {total / seconds:>12,.0f} readings/s")

    cpu = figures["lambda handler (CPU only)"] / figures["bridge processing (CPU only)"]
    io = (
        figures["lambda handler + InfluxDB writes"] / figures["bridge processing + InfluxDB writes"]
    )
    print(f"ratio lambda / bridge, CPU only:        {cpu:6.1%}  (target >= 90 %)")
    print(f"ratio lambda / bridge, with InfluxDB:   {io:6.1%}  (target >= 90 %)")

    seconds = import_seconds()
    print(
        f"cold start: `import handler` in a fresh interpreter {seconds:.2f} s "
        f"(median of 5; budget {IMPORT_BUDGET_S:.0f} s)"
    )
    if not args.no_package:
        size = package_mb()
        print(f"deployment package (packaging.py, zipped): {size:.1f} MB (budget 50 MB)")
    return 0


class _NoWriter:
    """Never called: the CPU-only timing stops before the write."""

    def write(self, lines: list[str]) -> None:
        raise AssertionError("the CPU-only timing must not write")

    def close(self) -> None:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
