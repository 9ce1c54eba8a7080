"""The simulator's meters on Modbus TCP, laid out on a real meter's register map.

`kilowatch simulate --modbus PORT` serves every meter of the fleet as one Modbus unit (unit id
1, 2, ... in fleet order) of a pymodbus TCP server, so `kilowatch agent` can poll them as it
polls real meters. Each read is answered with the meter model's registers at that instant,
encoded as the map says (address, type, word order, scale, unit): the inverse of what the agent
decodes. The register maps are kilowatch.registers' (the agent decodes with the same ones).
`ModbusServerThread` runs pymodbus's server in a thread of its own with its own event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from kilowatch.metermodel.model import Register, SimulatedMeter
from kilowatch.registers import REGISTERS_PER_TYPE, RegisterMap, encode_field
from kilowatch.settings import SettingsError
from kilowatch.signals import stop_on_signals
from kilowatch.simulator.fleet import build_fleet
from kilowatch.simulator.settings import SimulatorSettings

logger = logging.getLogger(__name__)

MAX_UNITS = 247  # Modbus unit ids 1..247
START_TIMEOUT_S = 10.0


def register_values(register: Register) -> dict[str, float]:
    """The meter's values by register-map field name, in kilowatch units."""
    values = {
        "energy_total_kwh": register.energy_total_kwh,
        "reactive_total_kvarh": register.reactive_total_kvarh,
        "power_kw": register.power_kw,
        "power_factor": register.power_factor,
    }
    for phase in (1, 2, 3):
        values[f"voltage_l{phase}"] = register.voltage_v[phase - 1]
        values[f"current_l{phase}"] = register.current_a[phase - 1]
    return values


def encode_registers(layout: RegisterMap, values: Mapping[str, float]) -> dict[int, int]:
    """address -> raw 16-bit register for every field of the map that `values` has."""
    out: dict[int, int] = {}
    for name, spec in layout.fields.items():
        if name in values:
            for offset, word in enumerate(encode_field(layout, name, values[name])):
                out[spec.address + offset] = word
    return out


def map_device(unit_id: int, layout: RegisterMap, action: Any) -> SimDevice:
    """A pymodbus device for one unit: registers 0 to the map's last, each read answered by
    `action` (pymodbus's `SimDevice` action: it fills in the registers asked for)."""
    end = max(spec.address + REGISTERS_PER_TYPE[spec.type] for spec in layout.fields.values())
    data = SimData(0, count=end + 1, values=0, datatype=DataType.REGISTERS)
    return SimDevice(unit_id, simdata=[data], action=action)


class ModbusServerThread:
    """pymodbus's TCP server in a thread of its own, with its own event loop."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: ModbusTcpServer | None = None

    def serve(self, devices: Sequence[SimDevice]) -> None:
        """Listen for these devices (raises OSError or RuntimeError when the port is taken)."""
        self._thread.start()

        async def listen() -> ModbusTcpServer:
            server = ModbusTcpServer(list(devices), address=(self.host, self.port))
            await server.serve_forever(background=True)
            return server

        self._server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(
            START_TIMEOUT_S
        )

    def stop(self) -> None:
        """Close the server and its thread."""
        if self._server is not None:
            server, self._server = self._server, None
            try:
                asyncio.run_coroutine_threadsafe(server.shutdown(), self._loop).result(5)
            except (TimeoutError, RuntimeError, OSError) as err:
                logger.debug("Modbus server shutdown: %s", err)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@dataclass(frozen=True, slots=True)
class Unit:
    """One served meter: its Modbus unit id and its model."""

    unit_id: int
    meter: SimulatedMeter


class ModbusMeters(ModbusServerThread):
    """The fleet's meters on a pymodbus TCP server, each unit answering from its model."""

    def __init__(
        self,
        units: Sequence[Unit],
        layout: RegisterMap,
        host: str,
        port: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host, port)
        self.units = list(units)
        self.layout = layout
        self._clock = clock
        self.reads = 0

    def _device(self, unit: Unit) -> SimDevice:
        async def answer(
            _fc: int, start: int, _address: int, _count: int, current: list[int], _values: Any
        ) -> None:
            self.reads += 1
            values = register_values(unit.meter.register_at(int(self._clock())))
            for where, word in encode_registers(self.layout, values).items():
                if start <= where < start + len(current):
                    current[where - start] = word

        return map_device(unit.unit_id, self.layout, answer)

    def start(self) -> Self:
        """Listen (raises OSError when the port is taken)."""
        self.serve([self._device(unit) for unit in self.units])
        return self


def modbus_units(fleet: Sequence[SimulatedMeter]) -> list[Unit]:
    """Unit ids 1, 2, ... in fleet order (the plant file's order)."""
    if len(fleet) > MAX_UNITS:
        raise ValueError(
            f"{len(fleet)} meters do not fit one Modbus server ({MAX_UNITS} unit ids at most)"
        )
    return [Unit(k + 1, meter) for k, meter in enumerate(fleet)]


def agent_meters_yaml(
    units: Sequence[Unit], plant: str, host: str, port: int, map_name: str
) -> str:
    """The `meters:` block of an agent file that polls one plant's served meters."""
    lines = ["meters:"]
    for unit in units:
        if unit.meter.plant == plant:
            lines.append(
                f"  - {{id: {unit.meter.meter}, source: modbus, host: {host}, port: {port}, "
                f"unit_id: {unit.unit_id}, map: {map_name}}}"
            )
    return "\n".join(lines) + "\n"


def run_modbus_server(
    settings: SimulatorSettings, host: str, port: int, layout: RegisterMap, map_name: str
) -> int:
    """Serve the fleet's meters over Modbus TCP until SIGINT or SIGTERM; 0 when stopped."""
    units = modbus_units(build_fleet(settings))
    server = ModbusMeters(units, layout, host, port)
    try:
        server.start()
    except (OSError, RuntimeError) as err:  # pymodbus: RuntimeError("Could not start listen")
        server.stop()
        raise SettingsError(
            f"--modbus {port}: cannot listen on {host}:{port} ({err}); is the port taken? "
            "(ports below 1024 need root)"
        ) from None
    plants = sorted({unit.meter.plant for unit in units})
    logger.info(
        "serving %d simulated meters on modbus://%s:%d as %s (%s), unit ids 1..%d",
        len(units),
        host,
        port,
        layout.model,
        map_name,
        len(units),
    )
    for plant in plants:
        logger.info(
            "plant %s: an agent file polls it with\n%s",
            plant,
            agent_meters_yaml(units, plant, host, port, map_name),
        )
    stop = threading.Event()
    with stop_on_signals(stop):
        stop.wait()
    server.stop()
    logger.info("stopped after %d Modbus reads", server.reads)
    return 0
