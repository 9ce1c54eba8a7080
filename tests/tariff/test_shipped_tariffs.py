"""The tariffs shipped in config/tariffs/ load, say where their numbers come from, and behave."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kilowatch.tariff import PlantTariff, Rate, load_tariff

from .samples import local

TARIFFS = Path(__file__).resolve().parents[2] / "config" / "tariffs"
FILES = sorted(TARIFFS.glob("*.yaml"))


def test_there_are_a_flat_and_time_of_use_tariffs() -> None:
    periods = {path.stem: len(load_tariff(path).periods) for path in FILES}
    assert 1 in periods.values()
    assert "cfe-gdmth-noroeste" in periods


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_shipped_tariff_loads_with_its_source(path: Path) -> None:
    tariff = load_tariff(path)
    assert tariff.id == path.stem  # one file per tariff, named after its id
    assert tariff.key == f"{tariff.id}@{tariff.version}"
    assert tariff.source.document.strip()
    assert re.match(r"^https://", tariff.source.url or "")
    assert re.match(r"^\d{4}-\d{2}", tariff.source.date)
    assert tariff.name.strip()


def test_cfe_gdmth_periods() -> None:
    tariff = load_tariff(TARIFFS / "cfe-gdmth-noroeste.yaml")
    plant = PlantTariff(tariff, "America/Hermosillo")
    rates = tariff.seasons[0].rates
    zone = "America/Hermosillo"
    # Wednesday 15 July 2026, summer: punta 20:00-22:00.
    assert plant.rate_at(local(zone, 2026, 7, 15, 20, 30)) == Rate("punta", rates["punta"])
    # Wednesday 16 September 2026, Independence Day: Sunday schedule, intermedia from 19:00.
    assert plant.rate_at(local(zone, 2026, 9, 16, 20, 30)) == Rate(
        "intermedia", rates["intermedia"]
    )
    # Saturday 4 April 2026 is still winter (summer starts Sunday 5 April): punta 19:00-21:00.
    assert plant.rate_at(local(zone, 2026, 4, 4, 20, 0)) == Rate("punta", rates["punta"])
    # Tuesday 1 December 2026, winter: punta 18:00-22:00, base before 06:00.
    assert plant.rate_at(local(zone, 2026, 12, 1, 18, 30)) == Rate("punta", rates["punta"])
    assert plant.rate_at(local(zone, 2026, 12, 1, 5, 59)) == Rate("base", rates["base"])
    # A 15-minute reading 19:55-20:10 on a summer weekday: 5 min intermedia, 10 min punta.
    cost = plant.cost(local(zone, 2026, 7, 15, 20, 10), 900, 1.0)
    expected = (5 * rates["intermedia"] + 10 * rates["punta"]) / 15 * 1.16
    assert (cost.period, cost.rate) == ("punta", pytest.approx(expected))


def test_seattle_large_general_service_holidays_and_dst() -> None:
    tariff = load_tariff(TARIFFS / "scl-large-general-seattle.yaml")
    zone = "America/Los_Angeles"
    plant = PlantTariff(tariff, zone)
    peak = Rate("peak", tariff.seasons[0].rates["peak"])
    off_peak = Rate("off_peak", tariff.seasons[0].rates["off_peak"])
    assert plant.rate_at(local(zone, 2026, 7, 4, 12)) == off_peak  # Saturday, a listed holiday
    assert plant.rate_at(local(zone, 2026, 7, 3, 12)) == peak  # the observed day is not listed
    assert plant.rate_at(local(zone, 2026, 7, 5, 12)) == off_peak  # Sunday
    # Sunday 8 March 2026 loses an hour but Monday's peak still starts at 06:00 PDT.
    assert plant.next_change(local(zone, 2026, 3, 8, 12)) == (local(zone, 2026, 3, 9, 6), peak)
