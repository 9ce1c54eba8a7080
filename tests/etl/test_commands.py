"""The commands' own logic: which plant, and the per-line summary of long files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from kilowatch.etl.commands import MAX_ROWS_SHOWN, _intensity_summary, resolve_plant
from kilowatch.etl.errors import EtlError


def test_a_long_file_is_summarised_per_line_over_the_days_with_energy() -> None:
    days = MAX_ROWS_SHOWN
    intensity = pd.DataFrame(
        {
            "day": list(pd.date_range("2026-01-01", periods=days)) * 2,
            "line": ["press"] * days + ["paint"] * days,
            "units": 10.0,
            "energy_kwh": [20.0] * (days - 5) + [np.nan] * 5 + [np.nan] * days,
            "cost": [2.0] * (days - 5) + [np.nan] * 5 + [np.nan] * days,
            "kwh_per_unit": 0.0,
            "cost_per_unit": 0.0,
        }
    )
    out = io.StringIO()
    Console(file=out, width=140).print(_intensity_summary(intensity))
    text = out.getvalue()
    assert "energy intensity per line (days with stored energy)" in text
    press = next(line for line in text.splitlines() if "press" in line)
    assert "2.000" in press and "0.200" in press  # 20 kWh / 10 units on the days with energy


def test_an_unknown_plant_names_the_known_ones(plant_file: Path) -> None:
    with pytest.raises(EtlError, match="known plants: hmo, sea"):
        resolve_plant(plant_file, "mty")
    assert resolve_plant(plant_file, "hmo").timezone == "America/Hermosillo"
