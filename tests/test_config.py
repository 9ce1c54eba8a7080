"""The plant file: what a valid one gives, and the sentence each mistake gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from kilowatch.config import ConfigError, load_config
from tests.support.services import REPO_ROOT


def test_example_plant_file_loads_with_absolute_tariff_paths() -> None:
    config = load_config(REPO_ROOT / "config" / "kilowatch.example.yaml")
    hmo = config.plant_by_id["hmo"]
    assert hmo.tariff.is_absolute() and hmo.tariff.is_file()
    assert hmo.line_of_meter["press-01"] == "press"
    assert str(hmo.zone) == "America/Hermosillo"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plants: [{id: p, timezone: Mars/Base, tariff: t.yaml}]", "plants.0.timezone"),
        ("plants: [{id: 'p 1', timezone: UTC, tariff: t.yaml}]", "plants.0.id"),
        ("plants: [{id: p, timezone: UTC}]", "line 1: plants.0.tariff: missing; add it"),
        (
            "plants: [{id: p, timezone: UTC, tariff: t.yaml, meters: [{id: m, line: nope}]}]",
            "line 'nope', which is not in lines",
        ),
        (
            "plants: [{id: p, timezone: UTC, tariff: t.yaml},"
            " {id: p, timezone: UTC, tariff: t.yaml}]",
            "repeated: p",
        ),
        (
            "plants: [{id: p, timezone: UTC, tariff: t.yaml, colour: red}]",
            "plants.0.colour: unknown key; remove it or fix its spelling",
        ),
        ("- just a list", "must be a mapping"),
        ("plants: [", "not valid YAML at line 1, column 10: expected the node content"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "plants.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        load_config(path)


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pass --config or set KILOWATCH_CONFIG"):
        load_config(tmp_path / "none.yaml")
