"""Register maps: the shipped maps load and name their source, bad maps are refused naming the
key, and a field's registers decode to kilowatch units and encode back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kilowatch.registers import (
    MAPS_DIR,
    REGISTERS_PER_TYPE,
    MapError,
    RegisterMap,
    decode_field,
    encode_field,
    four_quadrant_pf,
    load_map,
)

SHIPPED = sorted(path.stem for path in MAPS_DIR.glob("*.yaml"))


def mapping(**fields: dict[str, Any]) -> RegisterMap:
    return RegisterMap.model_validate(
        {"model": "test meter", "source": "made up for a test", "fields": fields}
    )


def test_at_least_two_maps_ship_and_each_names_its_source() -> None:
    assert {"eastron_sdm630", "schneider_pm5xxx"} <= set(SHIPPED)
    for name in SHIPPED:
        register_map = load_map(name)
        assert "energy_total_kwh" in register_map.fields
        assert len(register_map.source) > 40


def test_sdm630_addresses_from_the_manual() -> None:
    sdm = load_map("eastron_sdm630")
    # Protocol address = 3xxxx register number - 30001.
    for spec in sdm.fields.values():
        assert spec.manual_register is not None
        assert spec.address == spec.manual_register - 30001
    assert sdm.fields["energy_total_kwh"].address == 0x48
    assert sdm.register_type == "input"


def test_pm5xxx_addresses_are_register_numbers_minus_one() -> None:
    pm = load_map("schneider_pm5xxx")
    for spec in pm.fields.values():
        assert spec.manual_register is not None
        assert spec.address == spec.manual_register - 1
    assert pm.fields["power_factor"].transform == "four_quadrant_pf"


def test_four_quadrant_pf() -> None:
    assert four_quadrant_pf(0.8) == pytest.approx(0.8)
    assert four_quadrant_pf(-0.7) == pytest.approx(-0.7)
    assert four_quadrant_pf(1.2) == pytest.approx(0.8)  # quadrant 4: 2 - value
    assert four_quadrant_pf(-1.3) == pytest.approx(-0.7)  # -2 - value


def test_rollover_of_unsigned_counters_is_derived_from_the_type() -> None:
    register_map = mapping(
        energy_total_kwh={"address": 0, "type": "uint32", "unit": "Wh", "scale": 10},
        reactive_total_kvarh={"address": 2, "type": "float32", "unit": "kvarh"},
    )
    assert register_map.rollover_kwh("energy_total_kwh") == pytest.approx(2**32 * 10 / 1000)
    assert register_map.rollover_kwh("reactive_total_kvarh") is None
    explicit = mapping(
        energy_total_kwh={"address": 0, "type": "int32", "unit": "kWh", "rollover": 99_999_999}
    )
    assert explicit.rollover_kwh("energy_total_kwh") == 99_999_999


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"power_kw": {"address": 0, "type": "float32", "unit": "kW"}}, "energy_total_kwh"),
        ({"energy_total_kwh": {"address": 0, "type": "float32", "unit": "kW"}}, "unit 'kW'"),
        ({"energy_total_kwh": {"address": 0, "type": "float16", "unit": "kWh"}}, "type"),
        ({"energy_total_kwh": {"address": 65535, "type": "float32", "unit": "kWh"}}, "65535"),
        ({"energy_kwh": {"address": 0, "type": "float32", "unit": "kWh"}}, "energy_kwh"),
        (
            {
                "energy_total_kwh": {"address": 0, "type": "float32", "unit": "kWh"},
                "voltage_l1": {"address": 2, "type": "float32", "unit": "V"},
                "voltage_l2": {"address": 4, "type": "float32", "unit": "V"},
            },
            "not voltage_l1, voltage_l2",  # the contract carries 1 or 3 phases
        ),
    ],
)
def test_bad_maps_are_refused_naming_the_key(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:

    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump({"model": "m", "source": "made up for a test", "fields": fields})
    )
    with pytest.raises(MapError, match=message):
        load_map(str(path))


def test_an_unknown_shipped_map_lists_the_shipped_ones() -> None:
    with pytest.raises(MapError, match="eastron_sdm630"):
        load_map("acme_9000")


@pytest.mark.parametrize("name", SHIPPED)
def test_each_field_encodes_to_registers_that_decode_back(name: str) -> None:
    register_map = load_map(name)
    for field, spec in register_map.fields.items():
        value = 0.5 if field == "power_factor" else 123.0
        words = encode_field(register_map, field, value)
        assert len(words) == REGISTERS_PER_TYPE[spec.type]
        assert decode_field(register_map, field, words) == pytest.approx(value, abs=0.06)


def test_an_unsigned_counter_wraps_as_the_meter_does() -> None:
    register_map = mapping(energy_total_kwh={"address": 0, "type": "uint16", "unit": "kWh"})
    assert encode_field(register_map, "energy_total_kwh", 65_536 + 7) == [7]
