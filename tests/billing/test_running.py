"""The running bill: same bill as from all readings at once, whatever the arrival order."""

from __future__ import annotations

import gc
import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.billing import compute_bill
from kilowatch.billing.running import RunningBill
from kilowatch.influx.schema import billing_line
from tests.billing.samples import TOU, TWO_CHARGES_RATCHETED, plant, readings
from tests.tariff.samples import local

ZONE = "America/Mexico_City"
OCT = local(ZONE, 2026, 10, 1)
NOV = local(ZONE, 2026, 11, 1)
TARIFF = plant(
    {**TOU, "tax_percent": 16},
    ZONE,
    energy_tiers={"tiers": [{"up_to_kwh": 30}, {"rates": {"peak": 0.5, "off_peak": 0.2}}]},
    demand=TWO_CHARGES_RATCHETED,
    fixed=[{"name": "meter", "per_period": 10}],
    power_factor={"penalty": {"threshold": 0.9, "factor": 0.6, "max_percent": 120}},
)

reading = st.tuples(
    st.sampled_from(["m1", "m2"]),
    st.integers(OCT - 86400 * 20, NOV - 1).map(lambda t: t - t % 300),
    st.sampled_from([300, 900]),
    st.floats(0, 20).map(lambda x: round(x, 3)),
    st.floats(0, 10).map(lambda x: round(x, 3)),
)


def frame(rows: list[tuple[str, int, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["meter", "ts", "interval_s", "energy_kwh", "reactive_kvarh"])


def assert_same_bill(a: object, b: object) -> None:
    first, second = a.to_dict(), b.to_dict()  # type: ignore[attr-defined]
    assert [line["label"] for line in first["lines"]] == [line["label"] for line in second["lines"]]
    for x, y in zip(first["lines"], second["lines"], strict=True):
        assert x["amount"] == pytest.approx(y["amount"], abs=0.0101)
    for x, y in zip(first["peaks"], second["peaks"], strict=True):
        assert x["peak_kw"] == pytest.approx(y["peak_kw"], rel=1e-9, abs=1e-9)
        assert x["billed_kw"] == pytest.approx(y["billed_kw"], rel=1e-9, abs=1e-9)
    assert first["energy_kwh"] == pytest.approx(second["energy_kwh"], rel=1e-9, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(reading, min_size=1, max_size=30),
    st.lists(reading, max_size=10),
    st.randoms(use_true_random=False),
    st.integers(1, 5),
)
def test_any_arrival_order_with_repeats_gives_the_bill_of_the_final_readings(
    rows: list[tuple[str, int, int, float, float]],
    replaced: list[tuple[str, int, int, float, float]],
    rnd: object,
    batch: int,
) -> None:
    arrivals = rows + rows[: len(rows) // 2] + replaced  # repeats, then replacements
    shuffled = list(arrivals[: len(rows)])
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    arrivals = shuffled + arrivals[len(rows) :]
    running = RunningBill(TARIFF, "p1")
    for k in range(0, len(arrivals), batch):
        part = arrivals[k : k + batch]
        for meter in sorted({r[0] for r in part}):
            mine = [r for r in part if r[0] == meter]
            running.add_many(meter, *zip(*[r[1:] for r in mine], strict=True))
    final: dict[tuple[str, int], tuple[str, int, int, float, float]] = {}
    for r in arrivals:
        final[(r[0], r[1])] = r  # the last value of a (meter, ts) stands, as in InfluxDB
    expected = frame(list(final.values()))
    assert_same_bill(running.bill("2026-10"), compute_bill(TARIFF, expected, "2026-10"))
    mine = expected[expected["meter"] == "m1"]
    if len(mine):
        assert_same_bill(
            running.bill("2026-10", "m1"), compute_bill(TARIFF, mine, "2026-10", account=False)
        )


def test_points_for_plant_and_meters() -> None:
    running = RunningBill(TARIFF, "p1")
    # m1: 4 kWh 10:00-10:15 (16 kW); m2: 2 kWh 10:00-10:15 and 5 kWh 11:00-11:15 (20 kW)
    running.add("m1", OCT + 10 * 3600 + 900, 900, 4.0, 1.0)
    running.add("m2", OCT + 10 * 3600 + 900, 900, 2.0, None)
    running.add("m2", OCT + 11 * 3600 + 900, 900, 5.0, None)
    points = running.points(OCT + 12 * 3600)
    by_scope = {p.tags.get("meter", "plant"): p for p in points}
    assert set(by_scope) == {"plant", "m1", "m2"}
    plant_point = by_scope["plant"]
    assert plant_point.tags == {
        "plant": "p1",
        "scope": "plant",
        "billing_period": "2026-10",
        "tariff": "test-tou@1",
    }
    # the plant's peak is coincident: 6 kWh in 10:00-10:15 = 24 kW, above m2's own 20 kW
    assert plant_point.fields["demand_peak_kw"] == pytest.approx(24.0)
    assert plant_point.fields["demand_peak_ts"] == OCT + 10 * 3600 + 900
    assert by_scope["m2"].fields["demand_peak_kw"] == pytest.approx(20.0)
    # 11 kWh off-peak x 0.10 = 1.10; demand 24 kW x 3 = 72.00; fixed 10.00;
    # IVA 16 % of 83.10 = 13.30
    assert plant_point.fields["energy_cost"] == 1.10
    assert plant_point.fields["demand_charge"] == 72.00
    assert plant_point.fields["fixed_charge"] == 10.00
    assert plant_point.fields["total"] == 96.40
    assert plant_point.fields["tier"] == 1
    assert plant_point.fields["kwh_to_next_tier"] == pytest.approx(19.0)
    assert by_scope["m1"].fields["fixed_charge"] == 0.0
    assert billing_line(plant_point).startswith(
        "billing,billing_period=2026-10,plant=p1,scope=plant,tariff=test-tou@1 energy_kwh=11.0,"
    )
    # nothing changed: only the current period is reported again
    assert {p.tags["billing_period"] for p in running.points(OCT + 13 * 3600)} == {"2026-10"}


def test_late_reading_for_last_period_is_reported() -> None:
    running = RunningBill(TARIFF, "p1")
    running.add("m1", NOV + 900, 900, 1.0)
    running.points(NOV + 3600)
    running.add("m1", NOV - 900, 900, 3.0)  # October's last quarter hour, arriving late
    labels = {p.tags["billing_period"] for p in running.points(NOV + 7200)}
    assert labels == {"2026-10", "2026-11"}


def test_state_round_trip_and_rebuild() -> None:
    running = RunningBill(TARIFF, "p1")
    rows = readings([OCT + 900 * k for k in range(1, 200)], 1.5, reactive_kvarh=1.0)
    running.add_many(
        "m1", rows["ts"], rows["interval_s"], rows["energy_kwh"], rows["reactive_kvarh"]
    )
    running.add("m2", OCT + 900, 900, 2.0)
    state = json.loads(json.dumps(running.state()))
    again = RunningBill.from_state(TARIFF, state)
    now = OCT + 86400 * 3
    assert [billing_line(p) for p in again.points(now)] == [
        billing_line(p) for p in running.points(now)
    ]
    stored = pd.concat([rows.assign(meter="m1"), readings([OCT + 900], 2.0).assign(meter="m2")])
    rebuilt = RunningBill.rebuild(TARIFF, "p1", stored)
    assert [billing_line(p) for p in rebuilt.points(now)] == [
        billing_line(p) for p in again.points(now)
    ]


def test_old_periods_are_forgotten() -> None:
    running = RunningBill(TARIFF, "p1")
    running.add("m1", local(ZONE, 2026, 7, 2), 900, 1.0)  # July
    running.add("m1", OCT + 900, 900, 1.0)
    # keeps October, September (the one-month ratchet) and August (late data for September)
    running.points(OCT + 3600)
    assert running.state()["meters"]["m1"] == [[OCT + 900, 900, 1.0, None]]
    assert running.lookback_start(OCT + 3600) == local(ZONE, 2026, 8, 1)


def test_kept_readings_give_the_garbage_collector_nothing_to_track() -> None:
    # A tracked object per reading made the collector's passes a fifth of the bridge's time.
    running = RunningBill(TARIFF, "p1")
    rows = readings([OCT + 900 * k for k in range(1, 2001)], 1.5, reactive_kvarh=1.0)
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        running.add_many(
            "m1", rows["ts"], rows["interval_s"], rows["energy_kwh"], rows["reactive_kvarh"]
        )
        made = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert made < 100, f"{made} tracked objects for 2000 readings"


def test_a_reading_sent_again_replaces_one_that_came_out_of_order() -> None:
    running = RunningBill(TARIFF, "p1")
    running.add_many("m1", [OCT + 1800, OCT + 900, OCT + 2700], [900] * 3, [1.0, 2.0, 3.0])
    running.add_many("m1", [OCT + 900, OCT + 900], [900, 900], [5.0, 4.0])  # the last stands
    assert running.state()["meters"]["m1"] == [
        [OCT + 900, 900, 4.0, None],
        [OCT + 1800, 900, 1.0, None],
        [OCT + 2700, 900, 3.0, None],
    ]
    assert running.usage("2026-10", "m1").total_kwh == pytest.approx(8.0)


# A load-factor cap and a per-day fixed charge: both depend on how much of the period is billed.
CAPPED = plant(
    TOU,
    ZONE,
    demand={"charges": [{"name": "Distribucion", "per_kw": 10.0, "load_factor_cap": 0.5}]},
    fixed=[{"name": "meter", "per_day": 1.0}],
)


def test_a_period_in_progress_bills_as_kilowatch_bill_does() -> None:
    # Two meters, the first 5 days of October and a 1,113 kW quarter-hour on day 3: over the
    # 120 hours elapsed the cap does not cut the peak; over the whole month (744 h) it would.
    rows = []
    for meter, kw in (("m1", 600.0), ("m2", 100.0)):
        for ts in range(OCT + 900, OCT + 5 * 86400 + 1, 900):
            rows.append((meter, ts, 900, kw / 4, 0.0))
    peak_ts = OCT + 2 * 86400 + 10 * 3600
    rows = [
        (m, t, i, (413.0 / 4 + kwh) if (m, t) == ("m2", peak_ts) else kwh, q)
        for m, t, i, kwh, q in rows
    ]
    data = frame(rows)
    now = OCT + 5 * 86400 + 600
    running = RunningBill(CAPPED, "p1")
    for meter, part in data.groupby("meter"):
        running.add_many(str(meter), part["ts"], part["interval_s"], part["energy_kwh"])
    expected = compute_bill(CAPPED, data, "2026-10", now=now)
    assert expected.coverage is not None and expected.coverage.in_progress
    so_far = running.bill("2026-10", now=now)
    assert so_far.total == expected.total
    assert so_far.lines == expected.lines
    [peak] = so_far.peaks
    assert peak.billed_kw == pytest.approx(1113.0)
    [point] = [p for p in running.points(now) if p.tags["scope"] == "plant"]
    assert point.fields["total"] == expected.total
    assert point.fields["fixed_charge"] == 5.0  # days begun, not the month's 31
    mine = data[data["meter"] == "m1"]
    assert (
        running.bill("2026-10", "m1", now=now).total
        == compute_bill(CAPPED, mine, "2026-10", account=False, now=now).total
    )
    # Once the period has ended, both bill the whole period.
    after = NOV + 3600
    assert (
        running.bill("2026-10", now=after).total
        == compute_bill(CAPPED, data, "2026-10", now=after).total
    )


def test_billing_points_carry_numbers_as_the_bill_shows_them_not_float_noise() -> None:
    running = RunningBill(TARIFF, "p1")
    # kWh with binary noise when summed: 0.1 + 0.2 = 0.30000000000000004.
    for k, (kwh, kvarh) in enumerate([(0.1, 0.07), (0.2, 0.11), (278.301, 151.1), (0.7, 0.3)]):
        running.add("m1", OCT + 10 * 3600 + 900 * (k + 1), 900, kwh, kvarh)
    running.add("m2", OCT + 10 * 3600 + 2700, 900, 0.001, None)
    points = running.points(OCT + 86400)
    assert points
    decimals = {
        "energy_kwh": 3,
        "demand_peak_kw": 3,
        "kwh_to_next_tier": 3,
        "power_factor": 4,
        "total": 2,
        "energy_cost": 2,
        "tax": 2,
    }
    for point in points:
        line = billing_line(point)
        for name, places in decimals.items():
            if name in point.fields:
                value = point.fields[name]
                assert value == round(value, places), (name, value)
                assert f"{name}={value!r}" in line
    plant = next(p for p in points if p.tags["scope"] == "plant")
    assert plant.fields["demand_peak_kw"] == 1113.208  # (278.301 + 0.001) kWh in 15 min
