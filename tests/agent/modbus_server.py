"""A real pymodbus TCP server playing meters for tests: registers laid out by a register map.

Each unit id is one meter. Tests set its values in kilowatch units (encoded into registers with
the map, the inverse of what the agent decodes), and can make a unit answer with a Modbus
exception code or too late (a timeout), or put raw registers (a NaN float) at an address.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Self

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from kilowatch.agent.maps import REGISTERS_PER_TYPE, RegisterMap
from tests.support.services import free_port

START_TIMEOUT_S = 10.0


@dataclass
class _Unit:
    register_map: RegisterMap
    registers: dict[int, int] = field(default_factory=dict)  # address -> raw value
    exception: ExcCodes | None = None
    delay_s: float = 0.0
    reads: int = 0


def encode(register_map: RegisterMap, name: str, value: float) -> list[int]:
    """Registers holding `value` (kilowatch units) as the map's field `name` stores it."""
    spec = register_map.fields[name]  # type: ignore[index]
    raw: float | int = value / register_map.factor(name)  # type: ignore[arg-type]
    if not spec.type.startswith("float"):
        raw = round(raw)
    return ModbusClientMixin.convert_to_registers(
        raw,
        ModbusClientMixin.DATATYPE[spec.type.upper()],
        word_order=spec.word_order or register_map.word_order,
    )


class ModbusMeterServer:
    """pymodbus's TCP server on 127.0.0.1:free port, in a thread with its own event loop."""

    def __init__(self, units: dict[int, RegisterMap], port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = free_port() if port is None else port
        self.units = {unit: _Unit(register_map) for unit, register_map in units.items()}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: ModbusTcpServer | None = None

    def set_values(self, unit: int, **values: float) -> None:
        """Put values (kWh, kW, V, A, PF) into the unit's registers."""
        with self._lock:
            state = self.units[unit]
            for name, value in values.items():
                address = state.register_map.fields[name].address  # type: ignore[index]
                for i, register in enumerate(encode(state.register_map, name, value)):
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

    def _device(self, unit: int, state: _Unit) -> SimDevice:
        end = max(
            spec.address + REGISTERS_PER_TYPE[spec.type]
            for spec in state.register_map.fields.values()
        )

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

        data = SimData(0, count=end + 1, values=0, datatype=DataType.REGISTERS)
        return SimDevice(unit, simdata=[data], action=action)

    def start(self) -> Self:
        self._thread.start()
        devices = [self._device(unit, state) for unit, state in self.units.items()]

        async def listen() -> ModbusTcpServer:
            server = ModbusTcpServer(devices, address=(self.host, self.port))
            await server.serve_forever(background=True)
            return server

        self._server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(
            START_TIMEOUT_S
        )
        return self

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(server.shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
