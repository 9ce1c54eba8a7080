"""Five simulated weeks of two plants, simulator → Mosquitto → bridge → InfluxDB 1.x.

Every stored reading is checked: its energy against the simulator's model, its cost against a
tariff oracle written here minute by minute from the tariffs' published rules (not the engine).
The five weeks hold a clock change (1 Nov 2026 in Seattle) and holidays in both plants
(Revolution Day 16 Nov in Mexico, Thanksgiving 26 Nov in the US).
"""

from __future__ import annotations

import itertools
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from kilowatch.config import load_config
from kilowatch.simulator.fleet import fleet_from_config
from tests.bridge.conftest import EXAMPLE_PLANT_FILE, StartBridge, count_points, wait_for
from tests.support.services import BackgroundProcess, InfluxDB1, Mosquitto, kilowatch_argv

pytestmark = pytest.mark.integration

DAYS = 35
INTERVAL_S = 300
PER_METER = DAYS * 86400 // INTERVAL_S
SEED = 7


def seattle_rate(local: datetime) -> float:
    """SCL large general TOU: peak Mon-Sat 06-22 except six holidays; no tax added."""
    holidays = {date(2026, 11, 26), date(2026, 12, 25), date(2027, 1, 1)}
    peak = local.weekday() < 6 and 6 <= local.hour < 22 and local.date() not in holidays
    return 0.1091 if peak else 0.0612


def cfe_rate(local: datetime) -> float:
    """CFE GDMTH Noroeste, winter schedule (from 25 Oct 2026), plus 16 % IVA."""
    base, intermedia, punta = 0.9408, 1.5035, 1.6658
    assert local.date() >= date(2026, 10, 25), "the oracle knows the winter schedule only"
    hour, day = local.hour, local.weekday()
    if day == 6 or local.date() in {date(2026, 11, 16), date(2026, 12, 25)}:
        rate = base if hour < 18 else intermedia
    elif day == 5:
        rate = base if hour < 8 else punta if 19 <= hour < 21 else intermedia
    else:
        rate = base if hour < 6 else punta if 18 <= hour < 22 else intermedia
    return rate * 1.16


ORACLES = {
    "sea": (ZoneInfo("America/Los_Angeles"), seattle_rate),
    "hmo": (ZoneInfo("America/Hermosillo"), cfe_rate),
}


def oracle_cost(plant: str, ts_end: int, interval_s: int, energy_kwh: float) -> float:
    """Energy spread evenly over the interval, each minute at the rate its local time gets."""
    zone, rate_at = ORACLES[plant]
    minutes = interval_s // 60
    rates = [
        rate_at(datetime.fromtimestamp(ts_end - interval_s + 60 * m, zone)) for m in range(minutes)
    ]
    return energy_kwh * sum(rates) / minutes


def test_simulated_weeks_are_stored_completely_and_costed_exactly(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, start_bridge: StartBridge
) -> None:
    start_bridge(mosquitto, influxdb, influx_db_name)
    config = load_config(EXAMPLE_PLANT_FILE)
    meters = {(m.plant, m.meter): m for m in fleet_from_config(config, SEED, "auto")}
    simulator = BackgroundProcess(
        kilowatch_argv(
            "simulate",
            *("--config", str(EXAMPLE_PLANT_FILE), "--seed", str(SEED)),
            *("--backfill", f"{DAYS}d", "--count", str(PER_METER)),
        ),
        env={"KILOWATCH_MQTT_URL": mosquitto.url, "KILOWATCH_MQTT_CLIENT_ID": "simulator"},
    ).start()
    assert simulator.wait(timeout_s=300) == 0, simulator.log_tail()

    expected = PER_METER * len(meters)
    wait_for(
        "stored readings", lambda: count_points(influxdb, influx_db_name), expected, timeout_s=180
    )

    rows = influxdb.query(
        'SELECT energy_kwh, cost, interval_s, "plant", "meter" FROM energy', db=influx_db_name
    )
    assert len(rows) == expected
    seen: dict[tuple[str, str], list[int]] = {}
    worst = 0.0
    for row in rows:
        key = (row["plant"], row["meter"])
        model = meters[key].reading(row["time"], INTERVAL_S)
        assert row["energy_kwh"] == model.energy_kwh, (key, row["time"])
        cost = oracle_cost(row["plant"], row["time"], row["interval_s"], row["energy_kwh"])
        worst = max(worst, abs(row["cost"] - cost) / max(cost, 1e-9))
        seen.setdefault(key, []).append(row["time"])
    assert worst < 1e-9, f"a cost differs from the oracle by {worst:.2e} (relative)"

    # Each meter: PER_METER consecutive 5-minute readings ending within the last interval.
    for key, stamps in seen.items():
        stamps.sort()
        assert len(stamps) == PER_METER, key
        assert all(b - a == INTERVAL_S for a, b in itertools.pairwise(stamps)), key
        assert time.time() - stamps[-1] < 2 * INTERVAL_S + 120, key
    assert set(seen) == set(meters)
