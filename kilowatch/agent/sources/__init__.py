"""Where readings come from: Modbus TCP meters, or the simulator's meter model."""

from __future__ import annotations

from kilowatch.agent.settings import AgentConfig, ModbusMeterConfig, SimulatedMeterConfig
from kilowatch.agent.sources.base import MeterSource
from kilowatch.registers import RegisterMap


def open_sources(config: AgentConfig, maps: dict[str, RegisterMap]) -> dict[str, MeterSource]:
    """A source per meter, in config order; Modbus meters on one host:port share a connection.

    Nothing connects yet: a meter that cannot be reached fails its polls, not the start.
    """
    from kilowatch.agent.sources.modbus import ModbusLink, ModbusMeterSource
    from kilowatch.agent.sources.simulated import SimulatedSource

    links: dict[tuple[str, int], ModbusLink] = {}
    sources: dict[str, MeterSource] = {}
    for meter in config.meters:
        if isinstance(meter, ModbusMeterConfig):
            key = (meter.host, meter.port)
            if key not in links:
                links[key] = ModbusLink(
                    meter.host, meter.port, config.modbus.timeout_s, config.modbus.retries
                )
            sources[meter.id] = ModbusMeterSource(
                meter.id, links[key], meter.unit_id, maps[meter.map]
            )
        elif isinstance(meter, SimulatedMeterConfig):
            sources[meter.id] = SimulatedSource(config.plant, meter, config.timezone)
    return sources
