"""Green Button (ESPI) files: parsed safely, units normalised, costed like meter readings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kilowatch.config import load_config
from kilowatch.etl import (
    EtlValidationError,
    intervals_points,
    parse_greenbutton,
    validate_intervals,
)
from kilowatch.etl.commands import plant_costing
from kilowatch.etl.errors import EtlError
from kilowatch.etl.greenbutton import read_greenbutton
from tests.etl.samples import ESPI, greenbutton_feed

START = 1_790_000_000 - 1_790_000_000 % 3600  # a whole hour of 2026


def hours(count: int, wh: int = 1500) -> list[tuple[int, int, int]]:
    return [(START + 3600 * k, 3600, wh + k) for k in range(count)]


def test_the_sample_uses_the_real_espi_namespace() -> None:
    data = greenbutton_feed(hours(2))
    assert ESPI == "http://naesb.org/espi"
    assert b'xmlns:espi="http://naesb.org/espi"' in data
    assert b'<IntervalBlock xmlns="http://naesb.org/espi">' in data


def test_intervals_become_readings_ending_at_the_interval_end_in_kwh() -> None:
    frame = parse_greenbutton(greenbutton_feed(hours(30)))  # two IntervalBlocks (days)
    assert len(frame) == 30
    assert frame["ts"].iloc[0] == START + 3600
    assert frame["interval_s"].unique().tolist() == [3600]
    assert frame["energy_kwh"].iloc[:3].tolist() == [1.5, 1.501, 1.502]


def test_the_power_of_ten_multiplier_is_applied() -> None:
    frame = parse_greenbutton(greenbutton_feed([(START, 900, 15)], power_of_ten=3))
    assert frame["energy_kwh"].tolist() == [15.0]  # 15 x 10^3 Wh


def test_energy_received_from_the_customer_or_other_units_is_not_read_as_delivered() -> None:
    with pytest.raises(EtlError, match="no interval readings of energy delivered"):
        parse_greenbutton(greenbutton_feed(hours(2), flow_direction=19))
    with pytest.raises(EtlError, match="no interval readings of energy delivered"):
        parse_greenbutton(greenbutton_feed(hours(2), uom=38))  # volt-amperes reactive hours


def test_entity_expansion_bombs_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol2;</title></feed>'
    )
    with pytest.raises(EtlError, match="declares a DTD or entities"):
        parse_greenbutton(bomb)


def test_external_entities_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>&x;</title></feed>'
    ).encode()
    with pytest.raises(EtlError, match="declares a DTD or entities"):
        parse_greenbutton(xxe)


def test_files_that_are_not_green_button_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EtlError, match="not well-formed XML"):
        parse_greenbutton(b"<feed><entry></feed>")
    with pytest.raises(EtlError, match="not Green Button data"):
        parse_greenbutton(b'<feed xmlns="http://www.w3.org/2005/Atom"/>')
    with pytest.raises(EtlError, match=r"does not exist|cannot be read"):
        read_greenbutton(tmp_path / "missing.xml")


def test_repeated_intervals_are_listed() -> None:
    data = greenbutton_feed([*hours(3), (START + 3600, 3600, 9)])
    with pytest.raises(EtlValidationError) as caught:
        validate_intervals(parse_greenbutton(data))
    (problem,) = caught.value.problems
    assert len(problem.rows) == 2  # both readings of the hour, wherever the block has them
    assert "duplicate readings" in problem.problem


def test_intervals_are_costed_as_the_bridge_costs_readings(plant_file: Path) -> None:
    intervals = validate_intervals(parse_greenbutton(greenbutton_feed(hours(48))))
    tariff = plant_costing(load_config(plant_file).plant_by_id["sea"])
    lines = intervals_points(intervals, tariff, "sea", "utility")
    assert len(lines) == 48
    costed = tariff.cost_many(
        intervals["ts"].to_numpy(), intervals["interval_s"].to_numpy(), intervals["energy_kwh"]
    )
    cost = [float(line.split("cost=")[1].split(",")[0]) for line in lines]
    np.testing.assert_allclose(cost, costed.cost)
    assert lines[0].startswith(f"utility_energy,meter=utility,period={costed.period[0]},plant=sea,")
    assert lines[0].endswith(f"interval_s=3600i {(START + 3600) * 10**9}")
