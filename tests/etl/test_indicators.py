"""Energy performance indicators: the baseline model, R², CUSUM, the chart, bad tables."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kilowatch.config import PlantConfig
from kilowatch.etl import EtlValidationError, enpi, validate_enpi
from kilowatch.etl.errors import EtlError
from kilowatch.etl.frames import read_table
from kilowatch.etl.indicators import ALIASES, draw_enpi_chart
from tests.etl.samples import write_csv, write_xlsx

BASELINE_DAYS = 60
REPORT_DAYS = 30


def plant_days(saving: float = 0.1, seed: int = 7) -> pd.DataFrame:
    """90 days of one line: energy = 400 kWh + 2.5 kWh/unit + 30 kWh/HDD (+ noise); from day
    61 the line uses `saving` less energy per unit."""
    rng = np.random.default_rng(seed)
    n = BASELINE_DAYS + REPORT_DAYS
    units = rng.uniform(500, 1500, n)
    hdd = rng.uniform(0, 15, n)
    per_unit = np.where(np.arange(n) < BASELINE_DAYS, 2.5, 2.5 * (1 - saving))
    energy = 400 + per_unit * units + 30 * hdd + rng.normal(0, 5, n)
    return pd.DataFrame(
        {
            "day": pd.date_range("2026-01-01", periods=n, freq="D"),
            "line": "assembly",
            "units": units,
            "hdd": hdd,
            "energy_kwh": energy,
        }
    )


def test_the_baseline_model_recovers_the_drivers_and_cusum_shows_the_saving() -> None:
    data = plant_days(saving=0.1)
    result = enpi(data, baseline_end=date(2026, 3, 1))  # day 60
    model = result.models.iloc[0]
    assert model["observations"] == BASELINE_DAYS
    assert model["kwh_per_unit"] == pytest.approx(2.5, abs=0.02)
    assert model["kwh_per_hdd"] == pytest.approx(30, abs=1.0)
    assert model["intercept_kwh"] == pytest.approx(400, abs=20)
    assert model["r_squared"] > 0.99
    track = result.tracking
    baseline = track[track["baseline"]]
    assert baseline["cusum_kwh"].iloc[-1] == pytest.approx(0, abs=1e-6)  # OLS residuals sum to 0
    report = track[~track["baseline"]]
    expected_saving = (0.25 * data["units"].iloc[BASELINE_DAYS:]).sum()
    assert report["cusum_kwh"].iloc[-1] == pytest.approx(expected_saving, rel=0.05)
    assert report["cusum_kwh"].is_monotonic_increasing  # saving every day
    assert not result.notes


def test_without_a_baseline_end_the_first_half_of_the_days_is_the_baseline() -> None:
    result = enpi(plant_days().drop(columns="hdd"))
    assert result.models.iloc[0]["observations"] == 45
    assert np.isnan(result.models.iloc[0]["kwh_per_hdd"])


def test_a_weak_model_is_noted_and_too_short_a_baseline_refused() -> None:
    rng = np.random.default_rng(1)
    noise = pd.DataFrame(
        {
            "day": pd.date_range("2026-01-01", periods=40, freq="D"),
            "line": "assembly",
            "units": rng.uniform(0, 10, 40),
            "energy_kwh": rng.uniform(100, 200, 40),
        }
    )
    result = enpi(noise)
    assert result.notes and "below 0.75" in result.notes[0]
    with pytest.raises(EtlError, match="baseline rows"):
        enpi(noise, baseline_end=date(2026, 1, 3))


def test_a_line_without_any_energy_is_named() -> None:
    """As when energy is read from InfluxDB and none is stored for one of the lines."""
    other = plant_days().assign(line="paint", energy_kwh=np.nan)
    with pytest.raises(EtlError, match="line paint has no energy on any of its days"):
        enpi(pd.concat([plant_days(), other], ignore_index=True))


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    chart = tmp_path / "enpi.png"
    draw_enpi_chart(enpi(plant_days(), date(2026, 3, 1)), chart, "plant sea")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_table_from_excel_with_energy_in_mwh_is_read(tmp_path: Path, sea: PlantConfig) -> None:
    data = plant_days()
    path = write_xlsx(
        tmp_path / "enpi.xlsx",
        ["Date", "Line", "Production", "Heating degree days", "Energy (MWh)"],
        [
            (d.date(), line, u, h, e / 1000)
            for d, line, u, h, e in data.itertuples(index=False, name=None)
        ],
    )
    table = validate_enpi(read_table(path, ALIASES), sea, str(path))
    np.testing.assert_allclose(table["energy_kwh"], data["energy_kwh"])
    assert list(table.columns) == ["day", "line", "units", "energy_kwh", "hdd"]


def test_every_bad_row_of_an_enpi_table_is_listed(tmp_path: Path, sea: PlantConfig) -> None:
    path = write_csv(
        tmp_path / "enpi.csv",
        ["date", "line", "units", "energy_kwh"],
        [
            ("2026-01-01", "assembly", "10", "100"),
            ("2026-01-02", "assembly", "ten", "100"),
            ("2026-01-02", "assembly", "10", "100"),
            ("2026-01-01", "welding", "10", "-5"),
        ],
    )
    with pytest.raises(EtlValidationError) as caught:
        validate_enpi(read_table(path, ALIASES), sea, str(path))
    found = {(p.column, p.problem): p.rows for p in caught.value.problems}
    assert found[("units", "is not a number")] == (3,)
    assert found[("", "repeats another row's date and line (duplicate rows)")] == (3, 4)
    assert found[("energy_kwh", "is negative")] == (5,)
    assert ("line", "is not a line of plant sea (its lines: assembly, utilities)") in found
