"""A real pymodbus TCP server playing meters for tests: registers laid out by a register map.

Each unit id is one meter. Tests set its values in kilowatch units (encoded into registers with
the map, the inverse of what the agent decodes), and can make a unit answer with a Modbus
exception code or too late (a timeout), or put raw registers (a NaN float) at an address.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Self

from pymodbus.constants import ExcCodes

from kilowatch.registers import RegisterMap, encode_field
from kilowatch.simulator.modbus import ModbusServerThread, map_device
from tests.support.services import free_port


@dataclass
class _Unit:
    register_map: RegisterMap
    registers: dict[int, int] = field(default_factory=dict)  # address -> raw value
    exception: ExcCodes | None = None
    delay_s: float = 0.0
    reads: int = 0


class ModbusMeterServer(ModbusServerThread):
    """The product's pymodbus TCP server thread (the simulator's) on 127.0.0.1:free port, each
    unit answering with the registers a test put there."""

    def __init__(self, units: dict[int, RegisterMap], port: int | None = None) -> None:
        super().__init__("127.0.0.1", free_port() if port is None else port)
        self.units = {unit: _Unit(register_map) for unit, register_map in units.items()}
        self._lock = threading.Lock()

    def set_values(self, unit: int, **values: float) -> None:
        """Put values (kWh, kW, V, A, PF) into the unit's registers."""
        with self._lock:
            state = self.units[unit]
            for name, value in values.items():
                address = state.register_map.fields[name].address  # type: ignore[index]
                words = encode_field(state.register_map, name, value)  # type: ignore[arg-type]
                for i, register in enumerate(words):
                    state.registers[address + i] = register

    def set_registers(self, unit: int, address: int, registers: list[int]) -> None:
        """Put raw register values at an address (e.g. a NaN float: 0x7FC0, 0x0000)."""
        with self._lock:
            for i, register in enumerate(registers):
                self.units[unit].registers[address + i] = register

    def fail(self, unit: int, exception: ExcCodes | None) -> None:
        """Make the unit answer every read with this exception code (None: answer normally)."""
        with self._lock:
            self.units[unit].exception = exception

    def delay(self, unit: int, seconds: float) -> None:
        """Make the unit answer this late (longer than the client's timeout: no answer)."""
        with self._lock:
            self.units[unit].delay_s = seconds

    def reads(self, unit: int) -> int:
        """Read requests the unit received."""
        with self._lock:
            return self.units[unit].reads

    def _device(self, unit: int, state: _Unit) -> Any:
        async def action(
            _fc: int, start: int, address: int, count: int, current: list[int], _values: Any
        ) -> ExcCodes | None:
            with self._lock:
                state.reads += 1
                exception, delay = state.exception, state.delay_s
                for where, register in state.registers.items():
                    if start <= where < start + len(current):
                        current[where - start] = register
            if delay:
                await asyncio.sleep(delay)
            return exception

        return map_device(unit, state.register_map, action)

    def start(self) -> Self:
        self.serve([self._device(unit, state) for unit, state in self.units.items()])
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
