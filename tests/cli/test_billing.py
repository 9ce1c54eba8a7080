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

from kilowatch.billing.running import RunningBill
from kilowatch.bridge.bills import restore_running_bill
from kilowatch.cli.billing import run_bill, run_recost
from kilowatch.config import load_config
from kilowatch.influx.reader import InfluxSource
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
    assert rows[0] == "kind,label,quantity,unit,price,amount"
    assert rows[-1] == "total,total,,USD,,160.4"
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
