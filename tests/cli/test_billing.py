"""`kilowatch bill` and `kilowatch recost` against a real InfluxDB 1.x, readings written as the
bridge writes them (its own processing and schema)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml

from kilowatch.billing.errors import BillingError
from kilowatch.billing.running import RunningBill
from kilowatch.bridge.bills import restore_running_bill
from kilowatch.cli.billing import check_chart_path, run_bill, run_recost
from kilowatch.config import load_config
from kilowatch.influx.reader import InfluxReadError, InfluxSource
from kilowatch.influx.schema import LineLayout, billing_line
from kilowatch.processing import Message, Processor
from kilowatch.tariff import PlantTariff, load_tariff
from tests.billing.samples import FLAT, TOU
from tests.support.services import InfluxDB1
from tests.tariff.samples import utc

pytestmark = pytest.mark.integration

OCT = utc(2026, 10, 1)
NOV = utc(2026, 11, 1)
QUARTER = 900


def plant_file(tmp_path: Path, tariff: dict[str, Any]) -> Path:
    (tmp_path / "tariff.yaml").write_text(yaml.safe_dump(tariff), encoding="utf-8")
    config = {
        "plants": [
            {
                "id": "p1",
                "name": "Plant one",
                "timezone": "UTC",
                "tariff": "tariff.yaml",
                "lines": [{"id": "l1", "name": "Line one"}],
                "meters": [
                    {"id": "m1", "line": "l1", "name": "Meter one"},
                    {"id": "m2", "line": "l1", "name": "Meter two"},
                ],
            }
        ]
    }
    path = tmp_path / "plants.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def store(influx: InfluxDB1, db: str, config: Path, meter: str, rows: list[dict[str, Any]]) -> None:
    """Cost and format readings with the bridge's own processor, then write them."""
    processor = Processor(load_config(config))
    layout = LineLayout()
    for k in range(0, len(rows), 500):
        message = Message(f"kilowatch/p1/{meter}/readings", orjson.dumps(rows[k : k + 500]), 0.0)
        processed = processor.process([message], now=float(NOV + 86400 * 30))
        assert not processed.rejections
        lines = layout.batch_lines(processed, [message])
        influx.write(db, [line for per_message in lines for line in per_message], precision="ns")


BILLED = {
    **FLAT,
    "billing": {
        "demand": {"charges": [{"name": "demand", "per_kw": 10}]},
        "fixed": [{"name": "meter", "per_period": 5}],
    },
}


def test_bill_from_influxdb(influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path) -> None:
    config = plant_file(tmp_path, BILLED)
    quarters = [OCT + QUARTER * (k + 1) for k in range(31 * 96)]
    store(
        influxdb,
        influx_db_name,
        config,
        "m1",
        [{"ts": t, "energy_kwh": 1.0, "interval_s": QUARTER} for t in quarters],
    )
    store(
        influxdb,
        influx_db_name,
        config,
        "m2",
        [{"ts": OCT + 10 * QUARTER, "energy_kwh": 4.0, "interval_s": QUARTER}],
    )
    source = InfluxSource(influxdb.url, influx_db_name)
    out = io.StringIO()
    assert (
        run_bill(config=config, plant="p1", period="2026-10", influx=source, output="json", out=out)
        == 0
    )
    bill = json.loads(out.getvalue())
    # energy (2976 + 4) x 0.10 = 298.00; coincident peak (1 + 4) x 4 = 20 kW x 10; fixed 5
    assert {line["label"]: line["amount"] for line in bill["lines"]} == {
        "energy standard": 298.00,
        "demand": 200.00,
        "meter": 5.00,
    }
    assert bill["total"] == 503.00
    out = io.StringIO()
    run_bill(
        config=config,
        plant="p1",
        period="2026-10",
        influx=source,
        meter="m2",
        output="csv",
        out=out,
    )
    rows = out.getvalue().splitlines()
    # m2 alone: 0.40 energy, 16 kW x 10 = 160.00, no fixed charge
    # Every row names plant, meter, period and currency: bills concatenate into one table.
    assert rows[0] == "plant,meter,period,currency,kind,label,quantity,unit,price,base,amount"
    assert rows[1] == "p1,m2,2026-10,USD,energy,energy standard,4.0,kWh,0.1,,0.4"
    assert rows[-1] == "p1,m2,2026-10,USD,total,total,,,,,160.4"
    out = io.StringIO()
    run_bill(config=config, plant="p1", period="2026-10", influx=source, out=out)
    assert "503.00" in out.getvalue() and "peak 20.0 kW" in out.getvalue()
    pytest.importorskip("matplotlib")
    chart = tmp_path / "bill.png"
    run_bill(
        config=config, plant="p1", period="2026-10", influx=source, out=io.StringIO(), chart=chart
    )
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def energy_points(influx: InfluxDB1, db: str) -> list[dict[str, Any]]:
    rows = influx.query('SELECT * FROM "energy" GROUP BY *', db)
    return sorted(rows, key=lambda r: (r["meter"], r["time"]))


def test_recost_twice_changes_nothing(
    influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> None:
    config = plant_file(tmp_path, FLAT)
    rng = np.random.default_rng(7)
    ends = [OCT + 300 * (k + 1) for k in range(3 * 288)]  # three days of 5-minute readings
    readings = [
        {
            "ts": t,
            "energy_kwh": float(np.round(rng.uniform(0, 3), 3)),
            "interval_s": 300,
            "seq": k,
            "power_kw": 12.5,
            "reactive_kvarh": 0.25,
        }
        for k, t in enumerate(ends)
    ]
    store(influxdb, influx_db_name, config, "m1", readings)
    before = energy_points(influxdb, influx_db_name)
    assert {r["period"] for r in before} == {"standard"}
    # The tariff changes retroactively: time of use with a peak 18:00-22:00.
    new_tariff = tmp_path / "tou.yaml"
    new_tariff.write_text(yaml.safe_dump({**TOU, "version": "2"}), encoding="utf-8")
    source = InfluxSource(influxdb.url, influx_db_name)
    recost = {
        "config": config,
        "plant": "p1",
        "start": "2026-10-01",
        "end": OCT + 4 * 86400,
        "influx": source,
        "tariff": new_tariff,
        "progress": False,
        "spool_dir": tmp_path,
    }
    assert run_recost(**recost) == 0
    once = energy_points(influxdb, influx_db_name)
    assert len(once) == len(before)  # old points replaced, none left under the old tags
    costing = PlantTariff(load_tariff(new_tariff), "UTC")
    expected = costing.cost_many(
        np.array([r["ts"] for r in readings]),
        np.full(len(readings), 300),
        np.array([r["energy_kwh"] for r in readings]),
    )
    assert [r["cost"] for r in once] == pytest.approx(expected.cost.tolist())
    assert [r["period"] for r in once] == expected.period.tolist()
    assert {r["tariff"] for r in once} == {"test-tou@2"}
    assert [(r["seq"], r["power_kw"], r["reactive_kvarh"], r["line"]) for r in once] == [
        (r["seq"], r["power_kw"], r["reactive_kvarh"], "l1") for r in readings
    ]
    assert run_recost(**recost) == 0
    assert energy_points(influxdb, influx_db_name) == once
    types = {
        r["fieldKey"]: r["fieldType"]
        for r in influxdb.query('SHOW FIELD KEYS FROM "energy"', influx_db_name)
    }
    assert types["seq"] == "integer" and types["interval_s"] == "integer"


def test_running_bill_restored_from_influxdb(
    influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> None:
    config = plant_file(tmp_path, BILLED)
    rows = [
        {
            "ts": OCT + QUARTER * (k + 1),
            "energy_kwh": 1.0 + k % 7,
            "interval_s": QUARTER,
            "reactive_kvarh": 0.5,
        }
        for k in range(500)
    ]
    store(influxdb, influx_db_name, config, "m1", rows)
    store(influxdb, influx_db_name, config, "m2", rows[:100])
    costing = PlantTariff(load_tariff(tmp_path / "tariff.yaml"), "UTC")
    now = OCT + QUARTER * 600
    restored = restore_running_bill(InfluxSource(influxdb.url, influx_db_name), costing, "p1", now)
    direct = RunningBill(costing, "p1")
    for meter, mine in (("m1", rows), ("m2", rows[:100])):
        direct.add_many(
            meter,
            [r["ts"] for r in mine],
            [QUARTER] * len(mine),
            [r["energy_kwh"] for r in mine],
            [0.5] * len(mine),
        )
    assert [billing_line(p) for p in restored.points(now)] == [
        billing_line(p) for p in direct.points(now)
    ]


def test_bill_of_the_period_in_progress_is_marked_and_projected(
    influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> None:
    config = plant_file(tmp_path, BILLED)
    quarters = [OCT + QUARTER * (k + 1) for k in range(5 * 96)]  # 5 of 31 days so far
    store(
        influxdb,
        influx_db_name,
        config,
        "m1",
        [{"ts": t, "energy_kwh": 1.0, "interval_s": QUARTER} for t in quarters],
    )
    source = InfluxSource(influxdb.url, influx_db_name)
    out = io.StringIO()
    now = float(OCT + 5 * 86400 + 300)
    run_bill(config=config, plant="p1", period="current", influx=source, out=out, now=now)
    table = out.getvalue()
    assert "BILL SO FAR, DATA THROUGH 10-06 00:00 UTC, 5 OF 31 DAYS" in table
    assert "projected for the whole period at the pace so far" in table
    out = io.StringIO()
    run_bill(
        config=config, plant="p1", period="2026-10", influx=source, out=out, now=now, output="json"
    )
    bill = json.loads(out.getvalue())
    assert (bill["plant"], bill["meter"], bill["final"]) == ("p1", None, False)
    assert "scope" not in bill
    # energy 480 x 0.10 = 48 so far, 48 x 31 / 5 = 297.6 projected; demand 4 kW x 10; meter 5
    assert bill["total"] == 48 + 40 + 5
    assert bill["coverage"]["projected_total"] == pytest.approx(297.6 + 40 + 5)


def test_bill_refuses_what_it_cannot_bill(
    influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> None:
    config = plant_file(tmp_path, BILLED)
    store(
        influxdb,
        influx_db_name,
        config,
        "m1",
        [{"ts": OCT + QUARTER, "energy_kwh": 1.0, "interval_s": QUARTER}],
    )
    source = InfluxSource(influxdb.url, influx_db_name)
    bill = {"config": config, "plant": "p1", "influx": source, "out": io.StringIO()}
    with pytest.raises(BillingError, match=r"no readings of plant p1 in billing period 2026-09"):
        run_bill(period="2026-09", **bill)  # type: ignore[arg-type]
    with pytest.raises(BillingError, match=r"--meter 'nope' is not a meter of plant p1"):
        run_bill(period="2026-10", meter="nope", **bill)  # type: ignore[arg-type]
    with pytest.raises(BillingError, match=r"no readings of meter m2 of plant p1"):
        run_bill(period="2026-10", meter="m2", **bill)  # type: ignore[arg-type]
    with pytest.raises(BillingError, match="has not started yet"):
        run_bill(period="2099-01", **bill)  # type: ignore[arg-type]
    unreachable = InfluxSource("http://127.0.0.1:9", influx_db_name)
    with pytest.raises(InfluxReadError) as raised:
        run_bill(**{**bill, "influx": unreachable, "period": "2026-10"})  # type: ignore[arg-type]
    # One short reason: not the URL-encoded query, not urllib3's internals.
    assert str(raised.value) == (
        "InfluxDB at http://127.0.0.1:9 is not reachable: connection refused "
        "(is InfluxDB running on that port?)"
    )


def test_chart_into_a_folder_and_refused_paths(
    influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    assert check_chart_path(tmp_path, "p1", "2026-10") == tmp_path
    config = plant_file(tmp_path, BILLED)
    store(
        influxdb,
        influx_db_name,
        config,
        "m1",
        [{"ts": OCT + QUARTER, "energy_kwh": 1.0, "interval_s": QUARTER}],
    )
    source = InfluxSource(influxdb.url, influx_db_name)
    run_bill(
        config=config,
        plant="p1",
        period="current",
        influx=source,
        out=io.StringIO(),
        chart=tmp_path,
        now=float(OCT + 86400),
    )
    assert (tmp_path / "bill-p1-2026-10.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(BillingError, match="folder /nonexistent/dir does not exist"):
        check_chart_path(Path("/nonexistent/dir/x.png"), "p1", "2026-10")
    with pytest.raises(BillingError, match=r"must name a \.png file"):
        check_chart_path(tmp_path / "chart", "p1", "2026-10")


def gap_readings(day_start: int) -> list[dict[str, Any]]:
    """One day of 5-minute readings with 10:00-11:00 missing (a backlog the agent sends late)."""
    return [
        {"ts": day_start + 300 * (k + 1), "energy_kwh": 1.0, "interval_s": 300}
        for k in range(288)
        if not 120 <= k < 132
    ]


def late_readings(day_start: int) -> list[dict[str, Any]]:
    return [
        {"ts": day_start + 300 * (k + 1), "energy_kwh": 2.0, "interval_s": 300}
        for k in range(120, 132)
    ]


def test_recost_never_deletes_what_the_bridge_stores_meanwhile(
    influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The bridge (still on the old tariff) stores late readings of a day after recost read it
    and before it rewrote it: each one must survive, under the old tariff or the new."""
    config = plant_file(tmp_path, FLAT)
    for day in range(3):
        store(influxdb, influx_db_name, config, "m1", gap_readings(OCT + day * 86400))
    new_tariff = tmp_path / "tou.yaml"
    new_tariff.write_text(yaml.safe_dump({**TOU, "version": "2"}), encoding="utf-8")
    stored_late = []

    def bridge_stores_late_readings(lo: int, _hi: int) -> None:
        store(influxdb, influx_db_name, config, "m1", late_readings(lo))
        stored_late.append(lo)

    caplog.set_level("INFO", logger="kilowatch.cli.billing")
    run_recost(
        config=config,
        plant="p1",
        start=OCT,
        end=OCT + 3 * 86400,
        influx=InfluxSource(influxdb.url, influx_db_name),
        tariff=new_tariff,
        progress=False,
        spool_dir=tmp_path,
        after_read=bridge_stores_late_readings,
    )
    assert len(stored_late) == 3
    # Not on a terminal: progress as log lines (at least the last day's).
    assert any("re-costing p1: day 3 of 3" in r.getMessage() for r in caplog.records)
    points = energy_points(influxdb, influx_db_name)
    by_ts = {}
    for point in points:
        by_ts.setdefault(point["time"], []).append(point)
    expected = {r["ts"] for day in range(3) for r in gap_readings(OCT + day * 86400)}
    expected |= {r["ts"] for day in range(3) for r in late_readings(OCT + day * 86400)}
    assert set(by_ts) == expected  # nothing lost
    assert all(len(found) == 1 for found in by_ts.values())  # nothing twice
    late = {r["ts"] for day in range(3) for r in late_readings(OCT + day * 86400)}
    # Re-costed: every reading of [start, end) read by recost (the one ending at `end` is not in).
    recosted = {t for t in by_ts if t not in late and t < OCT + 3 * 86400}
    assert {p["tariff"] for t in recosted for p in by_ts[t]} == {"test-tou@2"}


def test_recost_dry_run_changes_nothing_and_meter_recosts_one(
    influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> None:
    config = plant_file(tmp_path, FLAT)
    for meter in ("m1", "m2"):
        store(influxdb, influx_db_name, config, meter, gap_readings(OCT))
    before = energy_points(influxdb, influx_db_name)
    new_tariff = tmp_path / "tou.yaml"
    new_tariff.write_text(yaml.safe_dump({**TOU, "version": "2"}), encoding="utf-8")
    recost: dict[str, Any] = {
        "config": config,
        "plant": "p1",
        "start": "2026-10-01",
        "end": "2026-10-02",
        "influx": InfluxSource(influxdb.url, influx_db_name),
        "tariff": new_tariff,
        "progress": False,
        "spool_dir": tmp_path,
    }
    out = io.StringIO()
    assert run_recost(**recost, dry_run=True, out=out) == 0
    assert energy_points(influxdb, influx_db_name) == before
    summary = out.getvalue()
    # 275 readings of 1 kWh per meter ending in [10-01, 10-02): 27.50 at 0.10; after, the
    # 48 ending 18:05-22:00 cost 0.30: +9.60.
    assert "dry run" in summary and "nothing written" in summary
    row = next(line for line in summary.splitlines() if " m1 " in line)
    assert row.split("│")[2:6] == [" 275 ", " 27.50 ", " 37.10 ", " +9.60 "] or [
        cell.strip() for cell in row.split("│")[2:6]
    ] == ["275", "27.50", "37.10", "+9.60"]
    assert run_recost(**recost, meter="m2") == 0
    after = energy_points(influxdb, influx_db_name)
    assert {p["tariff"] for p in after if p["meter"] == "m1"} == {"test-flat@1"}
    assert {p["tariff"] for p in after if p["meter"] == "m2" and p["time"] < OCT + 86400} == {
        "test-tou@2"
    }
    assert len(after) == len(before)


def test_recost_dry_run_labels_each_cost_with_its_own_currency(
    influxdb: InfluxDB1, influx_db_name: str, tmp_path: Path
) -> None:
    """A plant billed in MXN re-costed with a USD tariff: the stored costs are MXN, the new
    ones USD, and no change column (pesos cannot be taken from dollars)."""
    config = plant_file(tmp_path, {**FLAT, "currency": "MXN"})
    store(influxdb, influx_db_name, config, "m1", gap_readings(OCT))
    new_tariff = tmp_path / "usd.yaml"
    new_tariff.write_text(yaml.safe_dump({**TOU, "version": "2"}), encoding="utf-8")
    out = io.StringIO()
    assert (
        run_recost(
            config=config,
            plant="p1",
            start="2026-10-01",
            end="2026-10-02",
            influx=InfluxSource(influxdb.url, influx_db_name),
            tariff=new_tariff,
            progress=False,
            dry_run=True,
            out=out,
        )
        == 0
    )
    summary = out.getvalue()
    assert "before (MXN)" in summary and "after (USD)" in summary, summary
    assert "┃ change" not in summary and "after (MXN)" not in summary, summary
