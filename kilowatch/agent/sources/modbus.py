"""Modbus TCP meters (pymodbus 3 sync client): one connection per device or gateway, many units."""

from __future__ import annotations

import logging

from pymodbus.client import ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from kilowatch.agent.energy import MeterSample
from kilowatch.agent.maps import DecodeError, ReadBlock, decode_sample, plan_reads
from kilowatch.agent.sources.base import SourceError
from kilowatch.registers import RegisterMap

logger = logging.getLogger(__name__)

EXCEPTION_NAMES: dict[int, str] = {
    ExcCodes.ILLEGAL_FUNCTION: "illegal function",
    ExcCodes.ILLEGAL_ADDRESS: "illegal data address",
    ExcCodes.ILLEGAL_VALUE: "illegal data value",
    ExcCodes.DEVICE_FAILURE: "server device failure",
    ExcCodes.ACKNOWLEDGE: "acknowledge",
    ExcCodes.DEVICE_BUSY: "server device busy",
    ExcCodes.NEGATIVE_ACKNOWLEDGE: "negative acknowledge",
    ExcCodes.MEMORY_PARITY_ERROR: "memory parity error",
    ExcCodes.GATEWAY_PATH_UNAVIABLE: "gateway path unavailable",
    ExcCodes.GATEWAY_NO_RESPONSE: "gateway target device failed to respond",
}


class LinkError(Exception):
    """A read over a Modbus link failed; the message is a sentence for the log."""


class ModbusLink:
    """One TCP connection to a Modbus device or RS-485 gateway, shared by the units behind it.

    When the connection cannot be opened, every meter behind it fails for that poll at once
    instead of each waiting for its own connect timeout.
    """

    def __init__(self, host: str, port: int, timeout_s: float, retries: int) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=retries)
        self._down_at: int | None = None  # slot time of the poll at which connecting failed

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def read(self, ts: int, kind: str, address: int, count: int, unit_id: int) -> list[int]:
        """`count` registers from `address` of unit `unit_id`, or LinkError saying why not."""
        if self._down_at == ts:
            raise LinkError(f"cannot connect to {self} (tried earlier in this poll)")
        if not self._client.connected and not self._client.connect():
            self._down_at = ts
            raise LinkError(f"cannot connect to {self} within {self.timeout_s} s")
        self._down_at = None
        what = f"{kind} registers {address}..{address + count - 1} of unit {unit_id} at {self}"
        read = (
            self._client.read_input_registers
            if kind == "input"
            else self._client.read_holding_registers
        )
        try:
            response = read(address, count=count, device_id=unit_id)
        except ModbusIOException:
            raise LinkError(f"no answer reading {what} within {self.timeout_s} s") from None
        except ConnectionException as err:
            raise LinkError(f"connection to {self} lost reading {what}: {err}") from None
        except ModbusException as err:
            raise LinkError(f"reading {what} failed: {err}") from None
        if response.isError():
            code = getattr(response, "exception_code", 0)
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            raise LinkError(f"unit answered exception {code} ({name}) reading {what}")
        registers = list(response.registers)
        if len(registers) < count:
            raise LinkError(f"got {len(registers)} registers instead of {count} reading {what}")
        return registers

    def close(self) -> None:
        self._client.close()


class ModbusMeterSource:
    """A meter behind a ModbusLink, read with its model's register map."""

    def __init__(
        self, meter: str, link: ModbusLink, unit_id: int, register_map: RegisterMap
    ) -> None:
        self.meter = meter
        self.link = link
        self.unit_id = unit_id
        self.register_map = register_map
        self._blocks: list[ReadBlock] = plan_reads(register_map)

    def read(self, ts: int) -> tuple[MeterSample, list[str]]:
        answers: list[tuple[ReadBlock, list[int]]] = []
        try:
            for block in self._blocks:
                registers = self.link.read(
                    ts, block.register_type, block.address, block.count, self.unit_id
                )
                answers.append((block, registers))
            return decode_sample(self.register_map, answers)
        except (LinkError, DecodeError) as err:
            raise SourceError(self.meter, f"{self.register_map.model}: {err}") from None

    def close(self) -> None:
        self.link.close()
