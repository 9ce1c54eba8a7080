"""The ETLs against a real InfluxDB 1.x holding readings stored as the bridge stores them
(kilowatch.processing costs them, kilowatch.influx.schema lays out the lines)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kilowatch.billing import compute_bill
from kilowatch.config import KilowatchConfig, PlantConfig
from kilowatch.etl.bills import bill_components
from kilowatch.etl.commands import plant_costing, run_bill, run_enpi, run_production
from kilowatch.etl.errors import EtlValidationError
from kilowatch.etl.influx import InfluxSettings
from tests.etl.samples import (
    FIRST,
    INTERVAL_S,
    METERS,
    ZONE,
    greenbutton_feed,
    local_day_energy,
    store_readings,
    write_csv,
)
from tests.support.services import InfluxDB1

pytestmark = pytest.mark.integration


@pytest.fixture
def stored(influxdb: InfluxDB1, influx_db_name: str, config: KilowatchConfig) -> pd.DataFrame:
    """Plant sea's readings, stored as the bridge stores them."""
    return store_readings(influxdb, influx_db_name, config)


def settings(influxdb: InfluxDB1, db: str) -> InfluxSettings:
    return InfluxSettings(influxdb.url, db, version="1")


def test_production_is_loaded_once_and_joined_to_stored_energy_in_local_days(
    tmp_path: Path, influxdb: InfluxDB1, influx_db_name: str, plant_file: Path, stored: pd.DataFrame
) -> None:
    rows = [
        (day, line, product, units)
        for day in ("2026-10-31", "2026-11-01", "2026-11-02")
        for line, product, units in (
            ("assembly", "door", 400),
            ("assembly", "hood", 100),
            ("utilities", "air", 250),
        )
    ]
    path = write_csv(tmp_path / "prod.csv", ["date", "line", "product", "units"], rows)
    target = settings(influxdb, influx_db_name)
    for _ in range(2):  # the second run writes the same points again: nothing doubles
        assert (
            run_production(path, config=plant_file, plant="sea", influx=target, out=io.StringIO())
            == 0
        )
        stored_rows = influxdb.query('SELECT * FROM "production"', influx_db_name)
        assert len(stored_rows) == len(rows)
    assert sum(r["units"] for r in stored_rows) == sum(r[3] for r in rows)
    intensity = influxdb.query(
        'SELECT * FROM "energy_intensity" GROUP BY "line"', influx_db_name, epoch="s"
    )
    assert len(intensity) == 6
    expected = local_day_energy(stored)
    for point in intensity:
        day = pd.Timestamp(point["time"], unit="s", tz="UTC").tz_convert(ZONE)
        assert (day.hour, day.minute) == (0, 0)  # each point at local midnight
        kwh = expected[(day.tz_localize(None), point["line"])]
        units = 500 if point["line"] == "assembly" else 250
        assert point["energy_kwh"] == pytest.approx(kwh)
        assert point["kwh_per_unit"] == pytest.approx(kwh / units)
        assert point["cost_per_unit"] == pytest.approx(point["cost"] / units)
    # 1 November has 25 hours in Seattle: its day holds 100 readings a meter, not 96.
    end = pd.to_datetime(stored["ts"] - 1, unit="s", utc=True).dt.tz_convert(ZONE)
    assert (end.dt.date.astype(str) == "2026-11-01").sum() == 100 * len(METERS)


def test_a_file_with_one_bad_row_writes_nothing(
    tmp_path: Path, influxdb: InfluxDB1, influx_db_name: str, plant_file: Path
) -> None:
    """All or nothing per file, against a real InfluxDB (not a dry run)."""
    rows = [("2026-10-01", "assembly", f"part {k}", str(k)) for k in range(1, 500)]
    rows[-1] = ("2026-10-02", "assembly", "door", "12 pcs")
    path = write_csv(tmp_path / "prod.csv", ["date", "line", "product", "units"], rows)
    target = settings(influxdb, influx_db_name)
    with pytest.raises(EtlValidationError, match="is not a number in row 500") as raised:
        run_production(path, config=plant_file, plant="sea", influx=target, out=io.StringIO())
    assert len(raised.value.problems) == 1
    assert influxdb.query('SELECT count("units") FROM "production"', influx_db_name) == []


def test_bills_are_reconciled_against_the_stored_readings(
    tmp_path: Path,
    influxdb: InfluxDB1,
    influx_db_name: str,
    plant_file: Path,
    sea: PlantConfig,
    stored: pd.DataFrame,
) -> None:
    costing = plant_costing(sea)
    bill = compute_bill(
        costing, stored[["ts", "energy_kwh"]].assign(interval_s=INTERVAL_S), "2026-10"
    )
    ours = bill_components([bill]).iloc[0]
    path = write_csv(
        tmp_path / "bills.csv",
        ["period", "energy_kwh", "energy_charge", "fixed_charge", "total"],
        [
            (
                "2026-10",
                ours["energy_kwh"],
                round(ours["energy_charge"] * 1.1, 2),  # the utility billed 10 % more
                ours["fixed_charge"],
                ours["total"],
            )
        ],
    )
    out = io.StringIO()
    assert (
        run_bill(
            path, config=plant_file, plant="sea", influx=settings(influxdb, influx_db_name), out=out
        )
        == 0
    )
    points = influxdb.query(
        'SELECT * FROM "bill_reconciliation" GROUP BY "component"', influx_db_name
    )
    flagged = {p["component"]: p["flagged"] for p in points}
    assert flagged == {
        "energy_kwh": False,
        "energy_charge": True,
        "fixed_charge": False,
        "total": False,
    }
    assert "1 of 4 amounts differ by more than 2 %" in out.getvalue()
    assert {p["time"] for p in points} == {int(pd.Timestamp("2026-10-01", tz=ZONE).timestamp())}


def test_green_button_intervals_are_stored_as_the_utility_meter_s_costed_readings(
    tmp_path: Path,
    influxdb: InfluxDB1,
    influx_db_name: str,
    plant_file: Path,
    sea: PlantConfig,
) -> None:
    start = int(FIRST.timestamp())
    intervals = [(start + 3600 * k, 3600, 20_000 + 10 * k) for k in range(24 * 3)]
    path = tmp_path / "usage.xml"
    path.write_bytes(greenbutton_feed(intervals))
    target = settings(influxdb, influx_db_name)
    for _ in range(2):
        assert run_bill(path, config=plant_file, plant="sea", influx=target, out=io.StringIO()) == 0
    (total,) = influxdb.query(
        'SELECT count("energy_kwh") AS n, sum("energy_kwh") AS kwh, sum("cost") AS cost '
        'FROM "utility_energy" WHERE "meter" = \'utility\'',
        influx_db_name,
    )
    costed = plant_costing(sea).cost_many(
        np.array([s + d for s, d, _ in intervals]),
        np.array([d for _, d, _ in intervals]),
        np.array([v / 1000 for _, _, v in intervals]),
    )
    assert total["n"] == len(intervals)
    assert total["kwh"] == pytest.approx(sum(v for _, _, v in intervals) / 1000)
    assert total["cost"] == pytest.approx(costed.cost.sum())


def test_enpi_reads_daily_energy_from_influxdb_when_the_table_has_none(
    tmp_path: Path, influxdb: InfluxDB1, influx_db_name: str, plant_file: Path, stored: pd.DataFrame
) -> None:
    days = pd.date_range("2026-10-01", "2026-11-02", freq="D")
    rng = np.random.default_rng(3)
    rows = [(d.date().isoformat(), "assembly", int(rng.integers(300, 600))) for d in days]
    path = write_csv(tmp_path / "enpi.csv", ["date", "line", "units"], rows)
    output = tmp_path / "tracking.csv"
    chart = tmp_path / "enpi.png"
    run_enpi(
        path,
        config=plant_file,
        plant="sea",
        influx=settings(influxdb, influx_db_name),
        chart=chart,
        output=output,
        out=io.StringIO(),
    )
    tracking = pd.read_csv(output, parse_dates=["day"])
    expected = local_day_energy(stored).xs("assembly", level="line")
    np.testing.assert_allclose(tracking["energy_kwh"], expected.loc[tracking["day"]].to_numpy())
    assert chart.stat().st_size > 0
