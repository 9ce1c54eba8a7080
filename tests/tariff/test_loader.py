from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kilowatch.tariff import TariffError, load_tariff

from .samples import TOU


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plant-tariff.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def with_change(tmp_path: Path, change: object) -> Path:
    """The sample tariff, edited by `change(raw)`, written to a file."""
    raw = yaml.safe_load(TOU)
    change(raw)  # type: ignore[operator]
    return write(tmp_path, yaml.safe_dump(raw, sort_keys=False))


def problem(path: Path) -> str:
    with pytest.raises(TariffError) as caught:
        load_tariff(path)
    message = str(caught.value)
    assert str(path) in message  # every error names the file
    assert caught.value.path == str(path)
    return message


def test_the_sample_loads(tmp_path: Path) -> None:
    assert load_tariff(write(tmp_path, TOU)).key == "test-tou@1"


def test_gap_in_a_day_names_season_day_type_and_hours(tmp_path: Path) -> None:
    def gap(raw: dict) -> None:
        raw["seasons"][0]["schedule"]["weekday"][1][0] = "07:00"

    message = problem(with_change(tmp_path, gap))
    assert "seasons[0] (summer).schedule.weekday: gap from 06:00 to 07:00" in message


def test_overlap_in_a_day(tmp_path: Path) -> None:
    def overlap(raw: dict) -> None:
        raw["seasons"][1]["schedule"]["saturday"][0][1] = "09:00"

    message = problem(with_change(tmp_path, overlap))
    assert "seasons[1] (winter).schedule.saturday: overlap from 08:00 to 09:00" in message
    assert "'base' and 'intermediate'" in message


def test_day_not_reaching_midnight(tmp_path: Path) -> None:
    def short(raw: dict) -> None:
        raw["seasons"][1]["schedule"]["sunday"] = [["00:00", "23:00", "base"]]

    assert "gap from 23:00 to 24:00" in problem(with_change(tmp_path, short))


def test_day_in_no_season(tmp_path: Path) -> None:
    def gap(raw: dict) -> None:
        raw["seasons"][1]["from"] = "11-02"

    assert "seasons: 11-01 is in no season" in problem(with_change(tmp_path, gap))


def test_day_in_two_seasons(tmp_path: Path) -> None:
    def overlap(raw: dict) -> None:
        raw["seasons"][1]["from"] = "10-31"

    assert "seasons: 10-31 is in 'summer' and 'winter'" in problem(with_change(tmp_path, overlap))


def test_period_without_a_rate(tmp_path: Path) -> None:
    def unrated(raw: dict) -> None:
        del raw["seasons"][0]["rates"]["peak"]

    message = problem(with_change(tmp_path, unrated))
    assert (
        "seasons[0] (summer): period 'peak' is used in schedule.weekday but has no rate" in message
    )


@pytest.mark.parametrize("bad", ["peak hours", "peak,1", "", "x" * 65])
def test_period_names_must_be_tag_safe(tmp_path: Path, bad: str) -> None:
    def rename(raw: dict) -> None:
        raw["seasons"][0]["schedule"]["weekday"][2][2] = bad

    assert "must be 1-64 characters of A-Z a-z 0-9 _ . -" in problem(with_change(tmp_path, rename))


def test_negative_rate(tmp_path: Path) -> None:
    def negative(raw: dict) -> None:
        raw["seasons"][1]["rates"]["base"] = -0.1

    message = problem(with_change(tmp_path, negative))
    assert "seasons[1] (winter).rates: rate of 'base' must be a number >= 0" in message


def test_unquoted_version_and_times_are_refused(tmp_path: Path) -> None:
    text = TOU.replace('version: "1"', "version: 2026.10").replace(
        '["20:00", "22:00", peak]', '[20:00, "22:00", peak]'
    )
    message = problem(write(tmp_path, text))
    assert "version: version must be quoted text" in message
    assert "time 1200 must be quoted 'HH:MM' text" in message  # YAML reads 20:00 as 1200


def test_everyday_excludes_day_types(tmp_path: Path) -> None:
    def both(raw: dict) -> None:
        raw["seasons"][1]["schedule"]["everyday"] = [["00:00", "24:00", "base"]]

    message = problem(with_change(tmp_path, both))
    assert "seasons[1] (winter).schedule: give either everyday or day types" in message


def test_missing_day_type(tmp_path: Path) -> None:
    def missing(raw: dict) -> None:
        del raw["seasons"][0]["schedule"]["saturday"]

    assert "saturday missing" in problem(with_change(tmp_path, missing))


def test_unknown_holiday_country_and_name(tmp_path: Path) -> None:
    def country(raw: dict) -> None:
        raw["holidays"]["country"] = "XX"

    assert "holidays: Country XX not available" in problem(with_change(tmp_path, country))

    def name(raw: dict) -> None:
        raw["holidays"] = {"country": "US", "only": ["Thanksgiving"]}

    message = problem(with_change(tmp_path, name))
    assert "only: 'Thanksgiving' not among the holiday names of US" in message
    assert "Thanksgiving Day" in message  # the names it knows are listed


def test_currency_must_be_iso_4217(tmp_path: Path) -> None:
    def pesos(raw: dict) -> None:
        raw["currency"] = "pesos"

    assert "currency: 'pesos' must be an ISO 4217 code" in problem(with_change(tmp_path, pesos))


def test_missing_and_unknown_keys(tmp_path: Path) -> None:
    def keys(raw: dict) -> None:
        del raw["source"]
        raw["taxes"] = 16

    message = problem(with_change(tmp_path, keys))
    assert "source: missing; add it" in message
    assert "taxes: unknown key" in message


def test_file_problems(tmp_path: Path) -> None:
    assert "does not exist" in problem(tmp_path / "nowhere.yaml")
    assert "is not valid YAML" in problem(write(tmp_path, "id: [unclosed"))
    assert "must be a mapping" in problem(write(tmp_path, "- just a list"))
