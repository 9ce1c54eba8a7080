"""Simulator settings: durations, defaults, and errors that name the setting and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kilowatch.settings import SettingsError
from kilowatch.simulator.settings import SimulatorSettings, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 2_592_000),
        ("12h", 43_200),
        ("90m", 5_400),
        ("45s", 45),
        ("1d12h", 129_600),
        (" 2H ", 7_200),
        ("600", 600),
        (0, 0),
        (3600, 3600),
    ],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


@given(st.lists(st.tuples(st.integers(0, 999), st.sampled_from("dhms")), min_size=1, max_size=4))
def test_duration_is_the_sum_of_its_parts(parts: list[tuple[int, str]]) -> None:
    seconds = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    text = "".join(f"{number}{unit}" for number, unit in parts)
    assert parse_duration(text) == sum(number * seconds[unit] for number, unit in parts)


@pytest.mark.parametrize("text", ["", "3x", "1.5h", "d", "-1", "30 days", True, -5])
def test_bad_durations_say_what_a_duration_looks_like(text: str | int) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KILOWATCH_BACKFILL", "7d")
    monkeypatch.setenv("KILOWATCH_SEED", "42")
    settings = SimulatorSettings.load(interval_s=60)
    assert (settings.backfill, settings.seed, settings.interval_s) == (7 * 86400, 42, 60)
    assert settings.speed == 1.0 and settings.count is None
    # With no options the simulator plays the bridge's default plant file (they work together);
    # asking for a synthetic fleet leaves it out.
    assert settings.config == Path("config/kilowatch.example.yaml")
    assert SimulatorSettings.load(plants=3).config is None
    assert SimulatorSettings.load(meters=2).config is None
    assert str(settings.mqtt) == "mqtt://localhost:1883"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"speed": 60}, "KILOWATCH_SPEED: a speed above 1 replays history, so it needs a backfill"),
        ({"backfill": "20y"}, "KILOWATCH_BACKFILL: '20y' is not a duration"),
        ({"backfill": "9999d"}, "KILOWATCH_BACKFILL: backfill reaches before 2020-01-01"),
        ({"duration": "0"}, "KILOWATCH_DURATION"),
        ({"holidays_country": "XX"}, "KILOWATCH_HOLIDAYS_COUNTRY: 'XX' is not a country"),
        ({"timezone": "Mars/Olympus"}, "KILOWATCH_TIMEZONE: 'Mars/Olympus' is not an IANA"),
        ({"mqtt_url": "http://broker"}, "KILOWATCH_MQTT_URL"),
        ({"topic_prefix": "a/b"}, "KILOWATCH_TOPIC_PREFIX"),
        ({"batch_size": 1001}, "KILOWATCH_BATCH_SIZE"),
        ({"config": "/no/such/plants.yaml"}, "KILOWATCH_CONFIG: plant file /no/such/plants.yaml"),
        ({"mqtt_ca_file": "/no/ca.pem"}, "KILOWATCH_MQTT_CA_FILE: CA certificate /no/ca.pem"),
    ],
)
def test_bad_settings_name_the_variable(flags: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        SimulatorSettings.load(**flags)
    assert message in str(raised.value)


def test_speed_with_backfill_and_country_codes_are_accepted() -> None:
    settings = SimulatorSettings.load(speed=60, backfill="1d", holidays_country="de")
    assert settings.speed == 60 and settings.holidays_country == "DE"
    assert SimulatorSettings.load(holidays_country="None").holidays_country == "none"
