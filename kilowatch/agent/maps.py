"""The agent's side of a register map: reads planned, a meter's answers decoded.

Planning groups a map's registers into as few reads as the meter allows; decoding turns the
answers into a MeterSample in kilowatch units (the map itself: kilowatch.registers). Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kilowatch.agent.energy import MeterSample
from kilowatch.registers import (
    REGISTERS_PER_TYPE,
    FieldName,
    RegisterMap,
    RegisterType,
    decode_field,
)

__all__ = ["DecodeError", "ReadBlock", "decode_sample", "plan_reads"]


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One Modbus read: a run of registers and the fields in it."""

    register_type: RegisterType
    address: int
    count: int
    fields: tuple[FieldName, ...]


def plan_reads(register_map: RegisterMap) -> list[ReadBlock]:
    """Group the fields into reads: same register type, within max_read_gap, max_read_registers."""
    spans = sorted(
        (
            spec.register_type or register_map.register_type,
            spec.address,
            spec.address + REGISTERS_PER_TYPE[spec.type],
            name,
        )
        for name, spec in register_map.fields.items()
    )
    blocks: list[ReadBlock] = []
    current: list[tuple[RegisterType, int, int, FieldName]] = []
    for span in spans:
        if current:
            kind, first, _, _ = current[0]
            end = max(s[2] for s in current)
            fits = (
                span[0] == kind
                and span[1] - end <= register_map.max_read_gap
                and max(end, span[2]) - first <= register_map.max_read_registers
            )
            if not fits:
                blocks.append(_block(current))
                current = []
        current.append(span)
    if current:
        blocks.append(_block(current))
    return blocks


def _block(spans: list[tuple[RegisterType, int, int, FieldName]]) -> ReadBlock:
    first = spans[0][1]
    end = max(s[2] for s in spans)
    return ReadBlock(spans[0][0], first, end - first, tuple(s[3] for s in spans))


class DecodeError(ValueError):
    """The meter answered, but a value it gave cannot be used (NaN, out of range)."""


def decode_sample(
    register_map: RegisterMap, blocks: list[tuple[ReadBlock, list[int]]]
) -> tuple[MeterSample, list[str]]:
    """A MeterSample from the answers to the planned reads, plus warnings about dropped values.

    The energy register must be a finite number >= 0 (else DecodeError: the poll of this meter
    fails). Any other value that is not finite or out of range is left out of the reading,
    with a warning: the bridge would reject the whole reading for one bad power factor.
    """
    values: dict[str, float] = {}
    warnings: list[str] = []
    for block, registers in blocks:
        if len(registers) < block.count:
            raise DecodeError(
                f"{block.register_type} registers from {block.address}: got {len(registers)}"
                f" registers, expected {block.count}"
            )
        for name in block.fields:
            spec = register_map.fields[name]
            offset = spec.address - block.address
            value = decode_field(
                register_map, name, registers[offset : offset + REGISTERS_PER_TYPE[spec.type]]
            )
            problem = _out_of_range(name, value)
            if problem and name == "energy_total_kwh":
                raise DecodeError(f"energy_total_kwh (address {spec.address}) {problem}")
            if problem:
                warnings.append(f"{name} (address {spec.address}) {problem}; left out")
                continue
            values[name] = value
    return (
        MeterSample(
            energy_total_kwh=values["energy_total_kwh"],
            reactive_total_kvarh=values.get("reactive_total_kvarh"),
            power_kw=values.get("power_kw"),
            power_factor=values.get("power_factor"),
            voltage_v=_phases(register_map, values, "voltage", warnings),
            current_a=_phases(register_map, values, "current", warnings),
        ),
        warnings,
    )


def _out_of_range(name: str, value: float) -> str:
    if not math.isfinite(value):
        return f"is {value}"
    if name in ("energy_total_kwh", "reactive_total_kvarh") and value < 0:
        return f"is negative ({value})"
    if name == "power_factor" and not -1 <= value <= 1:
        return f"is {value}, outside -1..1"
    return ""


def _phases(
    register_map: RegisterMap, values: dict[str, float], kind: str, warnings: list[str]
) -> tuple[float, ...]:
    """L1..L3 as a tuple, all the map defines or none (one phase alone would mean single-phase)."""
    names = [f"{kind}_l{i}" for i in (1, 2, 3) if f"{kind}_l{i}" in register_map.fields]
    present = tuple(values[name] for name in names if name in values)
    if len(present) != len(names):
        warnings.append(f"{len(names) - len(present)} {kind} phase(s) unusable; {kind} left out")
        return ()
    return present
