"""Meters' Modbus register maps: the agent reads them, the simulator serves them."""

from __future__ import annotations

from kilowatch.registers.maps import (
    MAPS_DIR,
    REGISTERS_PER_TYPE,
    DataType,
    FieldName,
    MapError,
    RegisterField,
    RegisterMap,
    RegisterType,
    decode_field,
    encode_field,
    four_quadrant_pf,
    load_map,
)

__all__ = [
    "MAPS_DIR",
    "REGISTERS_PER_TYPE",
    "DataType",
    "FieldName",
    "MapError",
    "RegisterField",
    "RegisterMap",
    "RegisterType",
    "decode_field",
    "encode_field",
    "four_quadrant_pf",
    "load_map",
]
