"""Modbus TCP meters against a real pymodbus server: values, exceptions, timeouts, NaN, outages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymodbus.constants import ExcCodes

from kilowatch.agent.sources.base import SourceError
from kilowatch.agent.sources.modbus import ModbusLink, ModbusMeterSource
from kilowatch.registers import RegisterMap, load_map
from tests.agent.modbus_server import ModbusMeterServer
from tests.support.services import free_port

SDM630 = load_map("eastron_sdm630")
PM5XXX = load_map("schneider_pm5xxx")
EM24 = load_map("carlo_gavazzi_em24")
VALUES = {
    "energy_total_kwh": 183220.5,
    "reactive_total_kvarh": 4100.25,
    "power_kw": 148.9,
    "power_factor": 0.95,
    "voltage_l1": 229.8, "voltage_l2": 231.0, "voltage_l3": 230.2,
    "current_l1": 212.5, "current_l2": 208.75, "current_l3": 215.0,
}  # fmt: skip


@pytest.fixture
def server() -> Iterator[ModbusMeterServer]:
    """Three meters of three models behind one gateway (unit ids 1, 2, 3)."""
    with ModbusMeterServer({1: SDM630, 2: PM5XXX, 3: EM24}) as running:
        for unit in (1, 2, 3):
            running.set_values(unit, **VALUES)
        yield running


@pytest.fixture
def link(server: ModbusMeterServer) -> Iterator[ModbusLink]:
    opened = ModbusLink(server.host, server.port, timeout_s=0.5, retries=0)
    yield opened
    opened.close()


@pytest.mark.parametrize(("unit", "register_map"), [(1, SDM630), (2, PM5XXX), (3, EM24)])
def test_each_shipped_map_reads_its_meter(
    link: ModbusLink, unit: int, register_map: RegisterMap
) -> None:
    source = ModbusMeterSource(f"meter-{unit}", link, unit, register_map)
    sample, warnings = source.read(1_796_000_100)
    assert warnings == []
    assert sample.energy_total_kwh == pytest.approx(183220.5, abs=0.1)  # EM24: 0.1 kWh steps
    assert sample.reactive_total_kvarh == pytest.approx(4100.25, abs=0.1)
    assert sample.power_kw == pytest.approx(148.9, abs=0.01)
    assert sample.power_factor == pytest.approx(0.95, abs=0.001)
    assert sample.voltage_v == pytest.approx((229.8, 231.0, 230.2), abs=0.05)
    assert sample.current_a == pytest.approx((212.5, 208.75, 215.0), abs=0.001)


def test_pm5xxx_int64_energy_is_exact_to_the_wh(
    server: ModbusMeterServer, link: ModbusLink
) -> None:
    server.set_values(2, energy_total_kwh=12_345_678.901)
    sample, _ = ModbusMeterSource("pm", link, 2, PM5XXX).read(0)
    assert sample.energy_total_kwh == 12_345_678.901


def test_an_exception_code_is_reported_with_its_name(
    server: ModbusMeterServer, link: ModbusLink
) -> None:
    server.fail(1, ExcCodes.DEVICE_BUSY)
    with pytest.raises(SourceError, match=r"exception 6 \(server device busy\)") as caught:
        ModbusMeterSource("sdm", link, 1, SDM630).read(0)
    assert caught.value.meter == "sdm"
    assert "unit 1" in str(caught.value)
    server.fail(1, None)
    assert ModbusMeterSource("sdm", link, 1, SDM630).read(0)[0].power_kw == pytest.approx(148.9)


def test_a_unit_that_answers_too_late_is_a_timeout_and_the_next_read_works(
    server: ModbusMeterServer, link: ModbusLink
) -> None:
    server.delay(1, 1.0)
    with pytest.raises(SourceError, match=r"no answer .* within 0\.5 s"):
        ModbusMeterSource("sdm", link, 1, SDM630).read(0)
    server.delay(1, 0)
    # The same connection serves the other meters (and this one) afterwards.
    assert ModbusMeterSource("pm", link, 2, PM5XXX).read(0)[0].power_kw == pytest.approx(148.9)
    assert ModbusMeterSource("sdm", link, 1, SDM630).read(0)[0].power_kw == pytest.approx(148.9)


def test_a_nan_energy_register_fails_the_read(server: ModbusMeterServer, link: ModbusLink) -> None:
    server.set_registers(1, SDM630.fields["energy_total_kwh"].address, [0x7FC0, 0x0000])
    with pytest.raises(SourceError, match=r"energy_total_kwh .* nan"):
        ModbusMeterSource("sdm", link, 1, SDM630).read(0)


def test_a_nan_voltage_is_left_out_and_reported(
    server: ModbusMeterServer, link: ModbusLink
) -> None:
    server.set_registers(1, SDM630.fields["voltage_l2"].address, [0x7FC0, 0x0000])
    sample, warnings = ModbusMeterSource("sdm", link, 1, SDM630).read(0)
    assert sample.voltage_v == ()
    assert sample.current_a == pytest.approx((212.5, 208.75, 215.0))
    assert any("voltage_l2" in w for w in warnings)


def test_an_unknown_unit_is_an_error_for_that_meter_only(
    server: ModbusMeterServer, link: ModbusLink
) -> None:
    with pytest.raises(SourceError, match="meter ghost"):
        ModbusMeterSource("ghost", link, 9, SDM630).read(0)
    assert ModbusMeterSource("sdm", link, 1, SDM630).read(0)[0].power_kw == pytest.approx(148.9)


def test_an_unreachable_gateway_fails_its_meters_at_once() -> None:
    link = ModbusLink("127.0.0.1", free_port(), timeout_s=0.5, retries=0)
    try:
        with pytest.raises(SourceError, match=r"cannot connect to 127\.0\.0\.1:\d+ within"):
            ModbusMeterSource("a", link, 1, SDM630).read(300)
        # The second meter behind it in the same poll does not wait for another timeout.
        with pytest.raises(SourceError, match="tried earlier in this poll"):
            ModbusMeterSource("b", link, 2, SDM630).read(300)
        with pytest.raises(SourceError, match="within"):
            ModbusMeterSource("b", link, 2, SDM630).read(600)
    finally:
        link.close()


def test_a_meter_that_comes_back_is_read_again(server: ModbusMeterServer) -> None:
    link = ModbusLink(server.host, server.port, timeout_s=0.5, retries=0)
    source = ModbusMeterSource("sdm", link, 1, SDM630)
    try:
        assert source.read(300)[0].power_kw == pytest.approx(148.9)
        server.stop()
        with pytest.raises(SourceError, match="sdm"):
            source.read(600)
        with ModbusMeterServer({1: SDM630}, port=server.port) as again:
            again.set_values(1, **{**VALUES, "power_kw": 99.5})
            assert source.read(900)[0].power_kw == pytest.approx(99.5)
    finally:
        link.close()
