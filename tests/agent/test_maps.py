"""The agent's side of register maps: reads are planned, answers decode to a MeterSample."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest

from kilowatch.agent.maps import DecodeError, decode_sample, plan_reads
from kilowatch.registers import MAPS_DIR, RegisterMap, load_map

SHIPPED = sorted(path.stem for path in MAPS_DIR.glob("*.yaml"))


def f32(value: float) -> list[int]:
    """A float32 as two registers, high word first (written out by hand, not with pymodbus)."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


def mapping(**fields: dict[str, Any]) -> RegisterMap:
    return RegisterMap.model_validate(
        {"model": "test meter", "source": "made up for a test", "fields": fields}
    )


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_maps_plan_reads_within_their_limits(name: str) -> None:
    register_map = load_map(name)
    blocks = plan_reads(register_map)
    assert sorted(f for b in blocks for f in b.fields) == sorted(register_map.fields)
    assert all(b.count <= register_map.max_read_registers for b in blocks)


def test_contiguous_fields_share_a_read_and_gaps_split_them() -> None:
    register_map = mapping(
        energy_total_kwh={"address": 0, "type": "float32", "unit": "kWh"},
        power_kw={"address": 2, "type": "float32", "unit": "kW"},
        voltage_l1={"address": 10, "type": "float32", "unit": "V"},
        current_l1={"address": 20, "type": "float32", "unit": "A", "register_type": "input"},
    )
    assert [(b.register_type, b.address, b.count) for b in plan_reads(register_map)] == [
        ("holding", 0, 4),
        ("holding", 10, 2),
        ("input", 20, 2),
    ]


def test_max_read_gap_and_max_read_registers() -> None:
    fields = {
        "energy_total_kwh": {"address": 0, "type": "float32", "unit": "kWh"},
        "power_kw": {"address": 10, "type": "float32", "unit": "kW"},
        "voltage_l1": {"address": 20, "type": "float32", "unit": "V"},
    }
    spanning = RegisterMap.model_validate(
        {"model": "m", "source": "made up for a test", "max_read_gap": 8, "fields": fields}
    )
    assert [(b.address, b.count) for b in plan_reads(spanning)] == [(0, 22)]
    capped = RegisterMap.model_validate(
        {"model": "m", "source": "made up for a test", "max_read_gap": 8,
         "max_read_registers": 12, "fields": fields}
    )  # fmt: skip
    assert [(b.address, b.count) for b in plan_reads(capped)] == [(0, 12), (20, 2)]


def test_sdm630_registers_decode_to_kilowatch_units() -> None:
    sdm = load_map("eastron_sdm630")
    values = {
        "voltage_l1": 230.5, "voltage_l2": 231.0, "voltage_l3": 229.5,
        "current_l1": 10.25, "current_l2": 11.0, "current_l3": 9.5,
        "power_kw": 7250.0, "power_factor": 0.95,
        "energy_total_kwh": 183220.7, "reactive_total_kvarh": 1500.25,
    }  # fmt: skip
    answers = []
    for block in plan_reads(sdm):
        registers = [0] * block.count
        for name in block.fields:
            offset = sdm.fields[name].address - block.address
            registers[offset : offset + 2] = f32(values[name])
        answers.append((block, registers))
    sample, warnings = decode_sample(sdm, answers)
    assert warnings == []
    assert sample.power_kw == pytest.approx(7.25)  # the meter says W
    assert sample.energy_total_kwh == pytest.approx(183220.7, rel=1e-7)  # float32 precision
    assert sample.voltage_v == pytest.approx((230.5, 231.0, 229.5))
    assert sample.current_a == pytest.approx((10.25, 11.0, 9.5))
    assert sample.power_factor == pytest.approx(0.95)


def test_int32_low_word_first_with_scale() -> None:
    em24 = load_map("carlo_gavazzi_em24")
    (block,) = plan_reads(em24)
    registers = [0] * block.count
    registers[0x34:0x36] = [0xE240, 0x0001]  # 123456 (0x0001E240) low word first: 12345.6 kWh
    registers[0x00:0x02] = [2305, 0]  # 230.5 V
    registers[0x02:0x04] = [2310, 0]
    registers[0x04:0x06] = [2295, 0]
    registers[0x31] = 0xFC7C  # int16 -900: PF -0.9
    sample, _ = decode_sample(em24, [(block, registers)])
    assert sample.energy_total_kwh == pytest.approx(12345.6)
    assert sample.voltage_v == pytest.approx((230.5, 231.0, 229.5))
    assert sample.power_factor == pytest.approx(-0.9)


def test_int64_and_uint64_energy_in_wh() -> None:
    for kind in ("int64", "uint64"):
        register_map = mapping(energy_total_kwh={"address": 0, "type": kind, "unit": "Wh"})
        (block,) = plan_reads(register_map)
        sample, _ = decode_sample(register_map, [(block, [0, 0x0001, 0x0000, 0x0001])])
        assert sample.energy_total_kwh == pytest.approx((2**32 + 1) / 1000)


def test_nan_energy_fails_the_read() -> None:
    register_map = mapping(energy_total_kwh={"address": 0, "type": "float32", "unit": "kWh"})
    (block,) = plan_reads(register_map)
    with pytest.raises(DecodeError, match=r"energy_total_kwh .* is nan"):
        decode_sample(register_map, [(block, [0x7FC0, 0x0000])])


def test_negative_energy_fails_the_read() -> None:
    register_map = mapping(energy_total_kwh={"address": 0, "type": "int32", "unit": "kWh"})
    (block,) = plan_reads(register_map)
    with pytest.raises(DecodeError, match="negative"):
        decode_sample(register_map, [(block, [0xFFFF, 0xFFFF])])


def test_bad_values_other_than_energy_are_left_out_with_a_warning() -> None:
    register_map = mapping(
        energy_total_kwh={"address": 0, "type": "float32", "unit": "kWh"},
        power_factor={"address": 2, "type": "float32"},
        voltage_l1={"address": 4, "type": "float32", "unit": "V"},
        voltage_l2={"address": 6, "type": "float32", "unit": "V"},
        voltage_l3={"address": 8, "type": "float32", "unit": "V"},
        power_kw={"address": 10, "type": "float32", "unit": "kW"},
    )
    (block,) = plan_reads(register_map)
    registers = f32(100.0) + f32(1.5) + f32(230.0) + [0x7FC0, 0] + f32(231.0) + f32(math.inf)
    sample, warnings = decode_sample(register_map, [(block, registers)])
    assert sample.energy_total_kwh == 100.0
    assert (sample.power_factor, sample.voltage_v, sample.power_kw) == (None, (), None)
    assert len(warnings) == 4
    assert any("power_factor" in w and "outside -1..1" in w for w in warnings)
