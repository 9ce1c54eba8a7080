"""`kilowatch simulate --modbus PORT` serves the simulator's meters on a real register map, and
the real agent (`kilowatch agent`) polls them over Modbus TCP and publishes their readings."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import orjson
import paho.mqtt.client as mqtt
import pytest
import yaml

from kilowatch.config import load_config
from kilowatch.metermodel.model import Register
from kilowatch.registers import REGISTERS_PER_TYPE, decode_field, load_map
from kilowatch.simulator.fleet import fleet_from_config
from kilowatch.simulator.modbus import (
    agent_meters_yaml,
    encode_registers,
    modbus_units,
    register_values,
)
from tests.support.services import (
    REPO_ROOT,
    BackgroundProcess,
    Mosquitto,
    free_port,
    kilowatch_argv,
)

PLANT_FILE = REPO_ROOT / "config" / "kilowatch.example.yaml"
INTERVAL_S = 2


def test_registers_decode_back_to_the_meter_values() -> None:
    """What the server encodes is what the agent's decoder reads, at the register's resolution."""
    values = register_values(
        Register(2011.8, 73.25, 41.5, 0.93, (127.1, 126.9, 127.4), (101.25, 99.5, 100.0))
    )
    for name in ("eastron_sdm630", "schneider_pm5xxx", "carlo_gavazzi_em24"):
        layout = load_map(name)
        registers = encode_registers(layout, values)
        for field, spec in layout.fields.items():
            words = [registers[spec.address + k] for k in range(REGISTERS_PER_TYPE[spec.type])]
            assert decode_field(layout, field, words) == pytest.approx(values[field], abs=0.06), (
                name,
                field,
            )
    # float32 2011.8 is 2011.800048828125: the agent reads the 2011.8 the meter shows.
    eastron = load_map("eastron_sdm630")
    spec = eastron.fields["energy_total_kwh"]
    words = [encode_registers(eastron, values)[spec.address + k] for k in (0, 1)]
    assert decode_field(eastron, "energy_total_kwh", words) == 2011.8


def test_agent_example_block_names_each_meter_of_the_plant_once() -> None:
    units = modbus_units(fleet_from_config(load_config(PLANT_FILE), 0))
    block = yaml.safe_load(agent_meters_yaml(units, "hmo", "127.0.0.1", 1502, "eastron_sdm630"))
    assert [(m["id"], m["unit_id"]) for m in block["meters"]] == [
        ("press-01", 1),
        ("press-02", 2),
        ("paint-oven", 3),
        ("paint-booth", 4),
        ("compressor-a", 5),
        ("hvac-main", 6),
    ]


@pytest.mark.integration
def test_the_agent_polls_simulated_meters_over_modbus(mosquitto: Mosquitto, tmp_path: Path) -> None:
    port = free_port()
    server = BackgroundProcess(
        kilowatch_argv("simulate", "--modbus", str(port), "--config", str(PLANT_FILE)),
        log_path=tmp_path / "modbus.log",
    ).start()
    received: list[tuple[str, bytes]] = []
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="modbus-check")
    subscriber.on_message = lambda _c, _u, message: received.append(
        (message.topic, message.payload)
    )
    subscriber.connect("127.0.0.1", mosquitto.port)
    subscriber.subscribe("kilowatch/hmo/+/readings", qos=1)
    subscriber.loop_start()
    try:
        server.wait_for_log("serving 10 simulated meters on modbus://127.0.0.1")
        units = modbus_units(fleet_from_config(load_config(PLANT_FILE), 0))
        agent_file = tmp_path / "agent.yaml"
        agent_file.write_text(
            "plant: hmo\nagent: laptop\ntimezone: America/Hermosillo\n"
            f"interval_s: {INTERVAL_S}\ndelivery: broker\n"
            f"storage: {{path: {tmp_path / 'agent.sqlite'}}}\n"
            + agent_meters_yaml(units, "hmo", "127.0.0.1", port, "eastron_sdm630"),
            encoding="utf-8",
        )
        agent = BackgroundProcess(
            kilowatch_argv("agent", "--config", str(agent_file), "--mqtt-url", mosquitto.url),
            log_path=tmp_path / "agent.log",
        ).start()
        try:
            time.sleep(4 * INTERVAL_S + 2)
        finally:
            assert agent.stop() in (0, None), agent.log_tail()
    finally:
        server.stop()
        time.sleep(0.5)
        subscriber.loop_stop()
        subscriber.disconnect()
    readings = []
    for topic, payload in received:
        body = orjson.loads(payload)
        meter = topic.split("/")[2]
        readings += [{**r, "meter": meter} for r in (body if isinstance(body, list) else [body])]
    meters = {"press-01", "press-02", "paint-oven", "paint-booth", "compressor-a", "hvac-main"}
    assert {r["meter"] for r in readings} == meters, (received[:3], agent.log_tail())
    by_meter = {meter: [r for r in readings if r["meter"] == meter] for meter in meters}
    assert all(len(found) >= 2 for found in by_meter.values()), by_meter
    models = {u.meter.meter: u.meter for u in units if u.meter.plant == "hmo"}
    for meter, found in by_meter.items():
        for reading in found:
            total = reading.get("energy_total_kwh")
            if total is None:
                continue
            # The meter's register as a float32 shows it (7 digits, no binary noise), read at
            # the poll (within a second or two of the reading's end).
            shown = {
                float(
                    str(np.float32(models[meter].register_at(reading["ts"] + lag).energy_total_kwh))
                )
                for lag in range(3)
            }
            assert total in shown, (meter, reading, shown)
            assert reading["energy_kwh"] >= 0
