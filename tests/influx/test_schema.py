"""The lines laid out for processed batches: every kind of point, exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.config import load_config
from kilowatch.contract import AgentStatus, Reading, encode_readings, readings_topic
from kilowatch.influx.schema import LineLayout, agent_status_fields, agent_status_line
from kilowatch.processing import Message, Processor
from tests.bridge.conftest import EXAMPLE_PLANT_FILE
from tests.support.examples import AGENT_STATUS, NOW, message


@pytest.fixture(scope="module")
def processor() -> Processor:
    return Processor(load_config(EXAMPLE_PLANT_FILE))


def lines_of(processor: Processor, messages: list[Message]) -> list[list[str]]:
    """Each message's lines, laid out by a fresh layout."""
    return LineLayout().batch_lines(processor.process(messages, NOW), messages)


def test_each_message_gets_its_own_lines(processor: Processor) -> None:
    out = lines_of(
        processor,
        [
            message("kilowatch/sea/assembly-01/readings", '{"ts": 1795168800, "energy_kwh": 2}'),
            message("kilowatch/sea/assembly-01/readings", "{bad"),
            message(
                "kilowatch/hmo/press-01/readings",
                '[{"ts": 1795168800, "energy_kwh": 1}, {"ts": 1795169100, "energy_kwh": 1}]',
            ),
        ],
    )
    assert [len(lines) for lines in out] == [1, 1, 2]
    assert out[0][0] == (
        "energy,line=assembly,meter=assembly-01,period=off_peak,plant=sea,"
        "tariff=scl-large-general-seattle@2025 energy_kwh=2.0,cost=0.1224,rate=0.0612,"
        "interval_s=300i 1795168800000000000"
    )
    assert out[1][0].startswith("rejected,meter=assembly-01,plant=sea,reason=invalid_json ")


def test_rejections_never_share_a_timestamp(processor: Processor) -> None:
    bad = [message("kilowatch/sea/m/readings", "{bad") for _ in range(50)]
    lines = [line for lines in lines_of(processor, bad) for line in lines]
    assert len({line.rsplit(" ", 1)[1] for line in lines}) == 50


def test_payload_is_cut_to_4_kib_and_escaped(processor: Processor) -> None:
    payload = '{"ts": "x", "energy_kwh": 1, "note": "' + 'a"\\\n' * 3000 + '"}'
    (line,) = lines_of(processor, [message("kilowatch/sea/m/readings", payload)])[0]
    assert "\n" not in line
    assert ",reason=invalid_json " in line or ",reason=invalid_ts " in line


def fields_of(line: str) -> dict[str, float]:
    """The field set of an `energy` line, as numbers (`i` marks an integer)."""
    _, field_text, _ = line.split(" ")
    pairs = (pair.split("=") for pair in field_text.split(","))
    return {name: int(text[:-1]) if text.endswith("i") else float(text) for name, text in pairs}


def expected_fields(reading: Reading) -> dict[str, float]:
    """What an `energy` point must hold of a reading, besides cost and rate."""
    fields: dict[str, float] = {"energy_kwh": reading.energy_kwh, "interval_s": reading.interval_s}
    for name in ("seq", "energy_total_kwh", "power_kw", "reactive_kvarh", "power_factor"):
        if (value := getattr(reading, name)) is not None:
            fields[name] = value
    for name, phases in (("voltage_l", reading.voltage_v), ("current_l", reading.current_a)):
        fields |= {f"{name}{n}": value for n, value in enumerate(phases, 1)}
    return fields


def measured() -> st.SearchStrategy[float | None]:
    return st.none() | st.floats(min_value=-1e15, max_value=1e15, allow_nan=False)


def phases() -> st.SearchStrategy[tuple[float, ...]]:
    value = st.floats(min_value=-1e15, max_value=1e15, allow_nan=False)
    return st.just(()) | st.tuples(value) | st.tuples(value, value, value)


@st.composite
def readings_of_a_meter(draw: st.DrawFn) -> list[Reading]:
    """A message's readings, each with its own choice of optional fields."""
    count = draw(st.integers(1, 5))
    first_ts = draw(st.integers(1_700_000_000, int(NOW)))
    return [
        Reading(
            "sea",
            "assembly-01",
            first_ts - 300 * n,
            draw(st.floats(min_value=0, max_value=1e15, allow_nan=False)),
            draw(st.integers(1, 86400)),
            draw(st.none() | st.integers(0, 2**63 - 1)),
            draw(st.none() | st.floats(min_value=0, max_value=1e15, allow_nan=False)),
            draw(measured()),
            draw(measured()),
            draw(st.none() | st.floats(min_value=-1, max_value=1)),
            draw(phases()),
            draw(phases()),
        )
        for n in range(count)
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(readings_of_a_meter(), min_size=1, max_size=6))
def test_every_measurement_a_reading_has_is_in_its_line_exactly_and_no_other(
    processor: Processor, messages: list[list[Reading]]
) -> None:
    tariff = processor.tariffs["sea"]
    out = lines_of(
        processor,
        [
            message(readings_topic("sea", "assembly-01"), encode_readings(m).decode())
            for m in messages
        ],
    )
    for readings, lines in zip(messages, out, strict=True):
        assert len(lines) == len(readings)
        for reading, line in zip(readings, lines, strict=True):
            fields = fields_of(line)
            cost = tariff.cost(reading.ts, reading.interval_s, reading.energy_kwh)
            assert fields.pop("cost") == pytest.approx(cost.cost, rel=1e-12)
            # The rate is stored to 12 significant digits (a price as written): within 5e-12.
            assert fields.pop("rate") == pytest.approx(cost.rate, rel=1e-11)
            assert fields == expected_fields(reading)
            assert line.endswith(f" {reading.ts}000000000")


def test_fields_and_tags_for_influxdb() -> None:
    fields = agent_status_fields(AGENT_STATUS)
    assert fields["backlog_readings"] == 1234
    assert fields["backlog_age_s"] == 10_400.0
    assert fields["last_publish_age_s"] == 10.0
    assert fields["meters_failing"] == 2
    assert fields["failing_meters"] == "press-2,hvac-1"
    line = agent_status_line(AGENT_STATUS)
    assert line.startswith("agent_status,agent=edge-1,plant=plant-a ")
    assert line.endswith(" 1796000400000000000")
    assert "storage_full=false" in line
    assert "backlog_readings=1234i" in line


def test_unknown_times_are_left_out_of_the_fields() -> None:
    empty = AgentStatus(
        **{**AGENT_STATUS.to_json(), "oldest_pending_ts": None, "last_publish_ts": None,
           "disk_cap_bytes": None, "failing_meters": ()}
    )  # fmt: skip
    fields = agent_status_fields(empty)
    assert "oldest_pending_ts" not in fields and "last_publish_age_s" not in fields
    assert fields["backlog_age_s"] == 0.0
