"""Edge agent throughput: SQLite commits, and a 7-day backlog drained through the real bridge.

    python bench/bench_agent.py [--meters 32] [--days 7] [--baseline-readings 3000]

1. SQLite commit rate (ReadingStore, WAL, synchronous=FULL), each against the per-row baseline
   measured in the same run:
   - baseline: one reading per transaction (what an agent that commits each reading as it
     comes would do: one fsync per reading);
   - poll: one transaction per poll of all meters (what the agent does);
   - batch: one transaction for the whole backlog (ReadingStore.add_many, backfills).
2. Backlog drain: meters x days x 288 readings waiting in the agent's SQLite (a 7-day outage of
   32 meters is 64,512 readings); `python -m kilowatch.agent` starts, publishes them through a
   real Mosquitto to the real `kilowatch bridge`, which costs and writes them to InfluxDB 1.x.
   Timed from the agent's start to the moment InfluxDB holds every one and the agent's SQLite
   none (with receipts a row leaves only when the bridge's receipt says it is stored; with
   `delivery: broker`, on the broker's PUBACK). Baseline, same run: the same path with one
   reading per message (drain.batch_readings = 1), on a part of it.
3. Receipts: the arrays drain with `delivery: stored` (receipts, the default) against the same
   drain with `delivery: broker` (deleted on PUBACK), same run. Target: at least 80 %.
The machine is shared with other work: read the ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kilowatch.agent.energy import MeterState  # noqa: E402
from kilowatch.agent.store import ReadingStore  # noqa: E402
from kilowatch.contract import Reading  # noqa: E402
from kilowatch.metermodel.model import SimulatedMeter, default_profile  # noqa: E402
from tests.support.services import BackgroundProcess, InfluxDB1, Mosquitto, kilowatch_argv  # noqa: E402

PLANT, TZ = "hmo", "America/Hermosillo"  # in config/kilowatch.example.yaml (unknown meters ok)
PLANT_FILE = ROOT / "config" / "kilowatch.example.yaml"
INTERVAL_S = 300
DRAIN_TIMEOUT_S = 600
TARGET_DRAIN_S = 30.0
TARGET_COMMIT_PER_S = 20_000
TARGET_RECEIPTS_RATIO = 0.8


def backlog(meters: int, days: int, last_ts: int) -> tuple[list[Reading], list[MeterState]]:
    """Simulated readings of `meters` meters over `days` days ending at last_ts, and baselines."""
    count = days * 86400 // INTERVAL_S
    readings: list[Reading] = []
    states = []
    for i in range(meters):
        meter = f"bench-{i:02d}"
        model = SimulatedMeter(PLANT, meter, default_profile(meter), TZ, 0)
        readings += model.readings(last_ts - INTERVAL_S * (count - 1), INTERVAL_S, count, 1)
        end = model.register_at(last_ts)
        states.append(
            MeterState(meter, last_ts, end.energy_total_kwh, end.reactive_total_kvarh, count)
        )
    readings.sort(key=lambda r: r.ts)
    return readings, states


def bench_commits(workdir: Path, readings: list[Reading], meters: int, baseline_n: int) -> dict:
    """Readings committed per second: per reading, per poll, one transaction for everything."""
    results = {}
    store = ReadingStore(workdir / "per-row.sqlite")
    started = time.perf_counter()
    for reading in readings[:baseline_n]:
        store.add([reading])
    results["per_row"] = baseline_n / (time.perf_counter() - started)
    store.close()

    store = ReadingStore(workdir / "per-poll.sqlite")
    started = time.perf_counter()
    for start in range(0, len(readings), meters):
        store.add(readings[start : start + meters])
    results["per_poll"] = len(readings) / (time.perf_counter() - started)
    store.close()

    store = ReadingStore(workdir / "batch.sqlite")
    started = time.perf_counter()
    store.add_many(readings)
    results["batch"] = len(readings) / (time.perf_counter() - started)
    store.close()
    return results


def influx_count(influx: InfluxDB1, database: str, until_ts: int) -> int:
    rows = influx.query(
        f"SELECT count(energy_kwh) FROM energy WHERE time <= {until_ts}s", db=database
    )
    return int(rows[0]["count"]) if rows else 0


def outbox_count(path: Path, until_ts: int) -> int:
    """Backlog readings the agent still holds (read-only, beside the running agent)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return int(
            db.execute("SELECT COUNT(*) FROM readings WHERE ts <= ?", (until_ts,)).fetchone()[0]
        )
    finally:
        db.close()


def drain(
    workdir: Path,
    name: str,
    broker: Mosquitto,
    influx: InfluxDB1,
    readings: list[Reading],
    states: list[MeterState],
    batch_readings: int,
    delivery: str = "stored",
) -> float:
    """Seconds from the agent's start until InfluxDB holds every reading of the backlog."""
    database = f"bench_{name}"
    influx.create_database(database)
    store = ReadingStore(workdir / f"{name}.sqlite")
    store.add_many(readings)
    store.add([], states)
    store.close()
    config = workdir / f"{name}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "plant": PLANT,
                "agent": f"bench-{name}",
                "timezone": TZ,
                "delivery": delivery,
                "storage": {"path": str(workdir / f"{name}.sqlite"), "max_mb": 4096},
                "drain": {
                    "batch_readings": batch_readings,
                    "rate_readings_per_s": 1_000_000,
                    "max_inflight_messages": 20 if batch_readings > 1 else 1000,
                },
                "meters": [{"id": state.meter, "source": "simulated"} for state in states],
            }
        )
    )
    bridge = BackgroundProcess(
        kilowatch_argv("bridge"),
        env={
            "KILOWATCH_CONFIG": str(PLANT_FILE),
            "KILOWATCH_MQTT_URL": broker.url,
            "KILOWATCH_MQTT_CLIENT_ID": f"bridge-{name}",
            "KILOWATCH_INFLUX_URL": influx.url,
            "KILOWATCH_INFLUX_BUCKET": database,
        },
        log_path=workdir / f"bridge-{name}.log",
    ).start()
    agent = BackgroundProcess.python_module(
        "kilowatch.agent",
        env={"KILOWATCH_AGENT_CONFIG": str(config), "KILOWATCH_MQTT_URL": broker.url},
        log_path=workdir / f"agent-{name}.log",
    )
    try:
        bridge.wait_for_log("subscribed to")
        last_ts = max(state.ts for state in states)
        started = time.perf_counter()
        agent.start()
        sqlite_path = workdir / f"{name}.sqlite"
        while (
            influx_count(influx, database, last_ts) < len(readings)
            or outbox_count(sqlite_path, last_ts) > 0
        ):
            if time.perf_counter() - started > DRAIN_TIMEOUT_S:
                raise RuntimeError(f"{name}: not drained in {DRAIN_TIMEOUT_S} s")
            time.sleep(0.2)
        return time.perf_counter() - started
    finally:
        agent.stop()
        bridge.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meters", type=int, default=32)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--baseline-readings", type=int, default=3000)
    args = parser.parse_args()

    last_ts = (int(time.time()) // INTERVAL_S - 12) * INTERVAL_S  # an hour ago: never future
    readings, states = backlog(args.meters, args.days, last_ts)
    baseline_n = min(args.baseline_readings, len(readings))
    print(f"backlog: {len(readings):,} readings ({args.meters} meters x {args.days} days)")

    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        workdir = Path(tmp)
        commits = bench_commits(workdir, readings, args.meters, baseline_n)
        print("\nSQLite commits (WAL, synchronous=FULL), readings/s:")
        for label, key in (
            ("one reading per transaction (baseline)", "per_row"),
            (f"one transaction per poll ({args.meters} readings)", "per_poll"),
            ("one transaction for the batch", "batch"),
        ):
            ratio = commits[key] / commits["per_row"]
            print(f"  {label:<45} {commits[key]:>10,.0f}  x{ratio:,.1f}")
        ok = commits["batch"] >= TARGET_COMMIT_PER_S
        print(f"  target batch >= {TARGET_COMMIT_PER_S:,}/s: {'met' if ok else 'NOT met'}")

        with Mosquitto() as broker, InfluxDB1() as influx:
            # Baseline first, on the oldest part of the backlog (its own SQLite and database).
            part = [r for r in readings if r.ts <= readings[baseline_n - 1].ts]
            part_states = _states_at(states, part)
            single_s = drain(workdir, "single", broker, influx, part, part_states, 1)
            arrays_s = drain(workdir, "arrays", broker, influx, readings, states, 1000)
            broker_s = drain(workdir, "broker", broker, influx, readings, states, 1000, "broker")
        single_rate = len(part) / single_s
        arrays_rate = len(readings) / arrays_s
        print("\nbacklog drain, agent -> Mosquitto -> bridge -> InfluxDB:")
        for label, count, seconds, rate in (
            ("one reading per message (baseline)", len(part), single_s, single_rate),
            ("arrays of up to 1,000 readings", len(readings), arrays_s, arrays_rate),
        ):
            print(
                f"  {label:<36} {count:>7,} readings in {seconds:6.1f} s  {rate:>9,.0f}/s"
                f"  x{rate / single_rate:,.1f}"
            )
        ok = arrays_s < TARGET_DRAIN_S
        print(f"  target: drain in under {TARGET_DRAIN_S:.0f} s: {'met' if ok else 'NOT met'}")
        broker_rate = len(readings) / broker_s
        ratio = arrays_rate / broker_rate
        print("\nreceipts, the same arrays drain (until the agent holds nothing):")
        print(f"  delivery: broker (deleted on PUBACK)   {broker_s:6.1f} s  {broker_rate:>9,.0f}/s")
        print(f"  delivery: stored (receipts, default)   {arrays_s:6.1f} s  {arrays_rate:>9,.0f}/s")
        ok = ratio >= TARGET_RECEIPTS_RATIO
        print(
            f"  receipts / broker: {ratio:.0%} "
            f"(target >= {TARGET_RECEIPTS_RATIO:.0%}: {'met' if ok else 'NOT met'})"
        )
    return 0


def _states_at(states: list[MeterState], part: list[Reading]) -> list[MeterState]:
    """Baselines at the end of a part of the backlog (so the agent's next poll follows on)."""
    last = {}
    for reading in part:
        last[reading.meter] = reading
    return [
        MeterState(s.meter, last[s.meter].ts, last[s.meter].energy_total_kwh or 0.0, None, 0)
        for s in states
        if s.meter in last
    ]


if __name__ == "__main__":
    sys.exit(main())
