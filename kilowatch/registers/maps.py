"""Modbus register maps: which registers hold a meter's values, how to decode and scale them.

A map is a YAML file per meter model (see meter_maps/). Loading validates it; a field's raw
registers decode to its value in kilowatch units, and a value encodes back to the registers a
meter would hold (what the simulator serves). Everything but `load_map` is pure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pymodbus.client.mixin import ModbusClientMixin

from kilowatch.config import format_validation_error
from kilowatch.validation import read_yaml

MAPS_DIR = Path(__file__).parent / "meter_maps"
MAX_READ_REGISTERS = 125  # Modbus limit for one read of holding/input registers
SCALED_DIGITS = 15  # significant digits of a scaled register value (float64 noise beyond)

RegisterType = Literal["holding", "input"]
DataType = Literal["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
WordOrder = Literal["big", "little"]
Transform = Literal["none", "four_quadrant_pf"]
FieldName = Literal[
    "energy_total_kwh",
    "reactive_total_kvarh",
    "power_kw",
    "power_factor",
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "current_l1",
    "current_l2",
    "current_l3",
]

REGISTERS_PER_TYPE: dict[str, int] = {
    "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2,
    "int64": 4, "uint64": 4, "float64": 4,
}  # fmt: skip

# The unit a register holds (as the maker's manual names it) -> factor to kilowatch's unit.
_ENERGY = {"Wh": 0.001, "kWh": 1.0, "MWh": 1000.0}
_REACTIVE = {
    "varh": 0.001,
    "VArh": 0.001,
    "kvarh": 1.0,
    "kVArh": 1.0,
    "Mvarh": 1000.0,
    "MVArh": 1000.0,
}
_POWER = {"W": 0.001, "kW": 1.0, "MW": 1000.0}
_VOLTAGE = {"V": 1.0, "kV": 1000.0}
_CURRENT = {"mA": 0.001, "A": 1.0, "kA": 1000.0}
_RATIO = {"": 1.0, "-": 1.0}
UNITS: dict[str, dict[str, float]] = {
    "energy_total_kwh": _ENERGY,
    "reactive_total_kvarh": _REACTIVE,
    "power_kw": _POWER,
    "power_factor": _RATIO,
    "voltage_l1": _VOLTAGE, "voltage_l2": _VOLTAGE, "voltage_l3": _VOLTAGE,
    "current_l1": _CURRENT, "current_l2": _CURRENT, "current_l3": _CURRENT,
}  # fmt: skip


class MapError(ValueError):
    """A register map that cannot be used; the message names the map and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterField(_Strict):
    """One value: where it is, how it is encoded, its unit in the manual."""

    address: int = Field(ge=0, le=65535, description="protocol address (0-based)")
    manual_register: int | None = Field(
        None, alias="register", description="the manual's register number, for reference"
    )
    register_type: RegisterType | None = None  # default: the map's
    type: DataType
    word_order: WordOrder | None = None  # default: the map's
    scale: float = 1.0
    unit: str = ""
    rollover: float | None = Field(None, gt=0, description="raw value at which a counter wraps")
    transform: Transform = "none"


class RegisterMap(_Strict):
    """A meter model's register map."""

    model: str
    source: str = Field(min_length=10, description="the maker's document the addresses come from")
    register_type: RegisterType = "holding"
    word_order: WordOrder = "big"
    max_read_registers: int = Field(MAX_READ_REGISTERS, ge=1, le=MAX_READ_REGISTERS)
    max_read_gap: int = Field(0, ge=0, description="unused registers a single read may span")
    fields: dict[FieldName, RegisterField]

    @model_validator(mode="after")
    def _usable(self) -> RegisterMap:
        if "energy_total_kwh" not in self.fields:
            raise ValueError(
                "fields must include energy_total_kwh (the cumulative import register)"
            )
        for name, spec in self.fields.items():
            units = UNITS[name]
            if spec.unit not in units:
                raise ValueError(
                    f"fields.{name}.unit {spec.unit!r} is not one of {', '.join(map(repr, units))}"
                )
            if spec.address + REGISTERS_PER_TYPE[spec.type] > 65536:
                raise ValueError(f"fields.{name} runs past register 65535")
        for kind in ("voltage", "current"):
            phases = [i for i in (1, 2, 3) if f"{kind}_l{i}" in self.fields]
            if phases not in ([], [1], [1, 2, 3]):
                raise ValueError(
                    f"fields must give {kind}_l1 alone (single phase) or {kind}_l1 to "
                    f"{kind}_l3 (three phases), not {', '.join(f'{kind}_l{i}' for i in phases)}"
                )
        return self

    def factor(self, name: FieldName) -> float:
        """Raw value × factor = value in kilowatch's unit."""
        spec = self.fields[name]
        return spec.scale * UNITS[name][spec.unit]

    def rollover_kwh(self, name: FieldName) -> float | None:
        """Where a counter field wraps, in kWh/kvarh: declared, or the range of an unsigned type."""
        spec = self.fields.get(name)
        if spec is None:
            return None
        raw = spec.rollover
        if raw is None and spec.type.startswith("uint"):
            raw = float(2 ** (16 * REGISTERS_PER_TYPE[spec.type]))
        return None if raw is None else raw * self.factor(name)


def load_map(name_or_path: str, relative_to: Path | None = None) -> RegisterMap:
    """A shipped map by name (e.g. 'eastron_sdm630') or a map file by path."""
    if name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
    else:
        path = MAPS_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            shipped = ", ".join(sorted(p.stem for p in MAPS_DIR.glob("*.yaml")))
            raise MapError(f"no shipped register map {name_or_path!r}; shipped maps: {shipped}")
    raw = read_yaml(path, "register map", MapError)
    try:
        return RegisterMap.model_validate(raw)
    except ValidationError as err:
        raise MapError(
            f"register map {path} is invalid:\n{format_validation_error(err, path)}"
        ) from None


def decode_field(register_map: RegisterMap, name: FieldName, registers: list[int]) -> float:
    """One field's value in kilowatch units from its raw registers."""
    spec = register_map.fields[name]
    raw = ModbusClientMixin.convert_from_registers(
        registers,
        ModbusClientMixin.DATATYPE[spec.type.upper()],
        word_order=spec.word_order or register_map.word_order,
    )
    assert isinstance(raw, int | float)  # one value of a numeric type
    # At the register's resolution, not binary noise: a float32 as the shortest decimal that
    # is that float32 (2011.800048828125 is the 2011.8 the meter shows), and a scaled value to
    # 15 digits (2011800 Wh x 0.001 is 2011.8, not 2011.8000000000002).
    if spec.type == "float32":
        raw = float(str(np.float32(raw)))
    value = float(f"{float(raw) * register_map.factor(name):.{SCALED_DIGITS}g}")
    if spec.transform == "four_quadrant_pf":
        value = four_quadrant_pf(value)
    return value


def four_quadrant_pf(register_value: float) -> float:
    """Schneider's 4Q FP PF encoding (register in -2..2) to a signed power factor in -1..1.

    From the PM5300/PM5500 user manuals, "Power factor register format": a register value
    above +1 means PF = 2 - value; below -1 means PF = -2 - value; otherwise PF = value.
    """
    if register_value > 1:
        return 2 - register_value
    if register_value < -1:
        return -2 - register_value
    return register_value


def encode_field(register_map: RegisterMap, name: FieldName, value: float) -> list[int]:
    """The registers holding `value` (kilowatch units) as the map's field `name` stores it; an
    unsigned counter wraps as the meter's does."""
    spec = register_map.fields[name]
    raw: float | int = value / register_map.factor(name)
    if not spec.type.startswith("float"):
        raw = round(raw)
        if spec.type.startswith("uint"):
            raw %= 2 ** (16 * REGISTERS_PER_TYPE[spec.type])
    words: list[int] = ModbusClientMixin.convert_to_registers(
        raw,
        ModbusClientMixin.DATATYPE[spec.type.upper()],
        word_order=spec.word_order or register_map.word_order,
    )
    return words
