"""The simulator's meters on Modbus TCP, laid out on a real meter's register map.

`kilowatch simulate --modbus PORT` serves every meter of the fleet as one Modbus unit (unit id
1, 2, ... in fleet order) of a pymodbus TCP server, so `kilowatch agent` can poll them as it
polls real meters. Each read is answered with the meter model's registers at that instant,
encoded as the map says (address, type, word order, scale, unit): the inverse of what the agent
decodes. The register map is passed in (the CLI loads the agent's shipped maps): an app does not
import another app.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from kilowatch.metermodel.model import Register, SimulatedMeter
from kilowatch.settings import SettingsError
from kilowatch.signals import stop_on_signals
from kilowatch.simulator.fleet import build_fleet
from kilowatch.simulator.settings import SimulatorSettings

logger = logging.getLogger(__name__)

MAX_UNITS = 247  # Modbus unit ids 1..247
WORDS = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
WORDS.update({"int64": 4, "uint64": 4, "float64": 4})
START_TIMEOUT_S = 10.0


class FieldLayout(Protocol):
    """Where one value sits (kilowatch.agent.maps.RegisterField has these)."""

    @property
    def address(self) -> int: ...

    @property
    def type(self) -> str: ...

    @property
    def word_order(self) -> str | None: ...


class RegisterLayout(Protocol):
    """A meter model's register map (kilowatch.agent.maps.RegisterMap has these)."""

    @property
    def model(self) -> str: ...

    @property
    def word_order(self) -> str: ...

    @property
    def fields(self) -> Mapping[Any, FieldLayout]: ...

    def factor(self, name: Any) -> float: ...


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


def encode_registers(layout: RegisterLayout, values: Mapping[str, float]) -> dict[int, int]:
    """address -> raw 16-bit register for every field of the map that `values` has."""
    out: dict[int, int] = {}
    for name, spec in layout.fields.items():
        if name not in values:
            continue
        raw: float | int = values[name] / layout.factor(name)
        if not spec.type.startswith("float"):
            raw = round(raw)
            if spec.type.startswith("uint"):
                raw %= 2 ** (16 * WORDS[spec.type])  # a counter wraps as the meter's does
        words = ModbusClientMixin.convert_to_registers(
            raw,
            ModbusClientMixin.DATATYPE[spec.type.upper()],
            word_order=spec.word_order or layout.word_order,  # type: ignore[arg-type]
        )
        for offset, word in enumerate(words):
            out[spec.address + offset] = word
    return out


@dataclass(frozen=True, slots=True)
class Unit:
    """One served meter: its Modbus unit id and its model."""

    unit_id: int
    meter: SimulatedMeter


class ModbusMeters:
    """A pymodbus TCP server in a thread of its own, answering for each unit from its model."""

    def __init__(
        self,
        units: Sequence[Unit],
        layout: RegisterLayout,
        host: str,
        port: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.units = list(units)
        self.layout = layout
        self.host, self.port = host, port
        self._clock = clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: ModbusTcpServer | None = None
        self.reads = 0

    def _device(self, unit: Unit) -> SimDevice:
        end = max(spec.address + WORDS[spec.type] for spec in self.layout.fields.values())

        async def answer(
            _fc: int, start: int, _address: int, _count: int, current: list[int], _values: Any
        ) -> None:
            self.reads += 1
            values = register_values(unit.meter.register_at(int(self._clock())))
            for where, word in encode_registers(self.layout, values).items():
                if start <= where < start + len(current):
                    current[where - start] = word

        data = SimData(0, count=end + 1, values=0, datatype=DataType.REGISTERS)
        return SimDevice(unit.unit_id, simdata=[data], action=answer)

    def start(self) -> ModbusMeters:
        """Listen (raises OSError when the port is taken)."""
        self._thread.start()
        devices = [self._device(unit) for unit in self.units]

        async def listen() -> ModbusTcpServer:
            server = ModbusTcpServer(devices, address=(self.host, self.port))
            await server.serve_forever(background=True)
            return server

        self._server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(
            START_TIMEOUT_S
        )
        return self

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
    settings: SimulatorSettings, host: str, port: int, layout: RegisterLayout, map_name: str
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
