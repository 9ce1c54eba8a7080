"""The bridge's pure core: what each message becomes, without any server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.bridge.process import Message, ReadingProcessor
from kilowatch.config import KilowatchConfig, load_config
from kilowatch.contract import Reading, encode_readings, readings_topic
from tests.bridge.conftest import EXAMPLE_PLANT_FILE

NOW = 1_796_000_000.0


@pytest.fixture(scope="module")
def processor() -> ReadingProcessor:
    return ReadingProcessor(load_config(EXAMPLE_PLANT_FILE))


def message(topic: str, payload: str) -> Message:
    return Message(topic, payload.encode(), received_at=NOW)


def test_each_message_gets_its_own_lines(processor: ReadingProcessor) -> None:
    out = processor.prepare(
        [
            message("kilowatch/sea/assembly-01/readings", '{"ts": 1795168800, "energy_kwh": 2}'),
            message("kilowatch/sea/assembly-01/readings", "{bad"),
            message(
                "kilowatch/hmo/press-01/readings",
                '[{"ts": 1795168800, "energy_kwh": 1}, {"ts": 1795169100, "energy_kwh": 1}]',
            ),
        ],
        NOW,
    )
    assert [len(lines) for lines in out.lines] == [1, 1, 2]
    assert out.readings == 3 and out.rejected == 1
    assert out.newest_ts == 1795169100
    assert out.lines[0][0] == (
        "energy,line=assembly,meter=assembly-01,period=off_peak,plant=sea,"
        "tariff=scl-large-general-seattle@2025 energy_kwh=2.0,cost=0.1224,rate=0.0612,"
        "interval_s=300i 1795168800000000000"
    )
    assert out.lines[1][0].startswith("rejected,meter=assembly-01,plant=sea,reason=invalid_json ")


def test_undeclared_meter_goes_to_line_unassigned_or_is_rejected(tmp_path: Path) -> None:
    relaxed = load_config(EXAMPLE_PLANT_FILE)
    msg = message("kilowatch/sea/new-meter/readings", '{"ts": 1795168800, "energy_kwh": 2}')
    (line,) = ReadingProcessor(relaxed).prepare([msg], NOW).lines[0]
    assert ",line=unassigned," in line

    strict = KilowatchConfig.model_validate(relaxed.model_dump() | {"accept_unknown_meters": False})
    out = ReadingProcessor(strict).prepare([msg], NOW)
    assert [r.reason for r in out.rejections] == ["unknown_meter"]


def test_rejections_never_share_a_timestamp(processor: ReadingProcessor) -> None:
    bad = [message("kilowatch/sea/m/readings", "{bad") for _ in range(50)]
    lines = [line for lines in processor.prepare(bad, NOW).lines for line in lines]
    assert len({line.rsplit(" ", 1)[1] for line in lines}) == 50


def test_payload_is_cut_to_4_kib_and_escaped(processor: ReadingProcessor) -> None:
    payload = '{"ts": "x", "energy_kwh": 1, "note": "' + 'a"\\\n' * 3000 + '"}'
    (line,) = processor.prepare([message("kilowatch/sea/m/readings", payload)], NOW).lines[0]
    assert "\n" not in line
    assert ",reason=invalid_json " in line or ",reason=invalid_ts " in line


def test_a_message_kilowatch_fails_on_is_set_aside_and_the_others_go_on(
    processor: ReadingProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kilowatch.bridge.process as process

    real = process.parse_message

    def parse_with_a_bug(topic: str, payload: bytes, *args: object):
        if b"bug" in payload:
            raise ZeroDivisionError("a bug")
        return real(topic, payload, *args)

    monkeypatch.setattr(process, "parse_message", parse_with_a_bug)
    out = processor.prepare(
        [
            message("kilowatch/sea/assembly-01/readings", '{"ts": 1795168800, "bug": 1}'),
            message("kilowatch/sea/assembly-01/readings", '{"ts": 1795168800, "energy_kwh": 2}'),
        ],
        NOW,
    )
    assert [r.reason for r in out.rejections] == ["internal_error"]
    assert "ZeroDivisionError" in out.rejections[0].detail
    assert out.lines[0][0].startswith("rejected,") and out.readings == 1


def test_readings_influxdb_refused_are_told_apart_by_plant(processor: ReadingProcessor) -> None:
    both = '{"ts": 1795168800, "energy_kwh": 1}'  # the same meter id and ts in two plants
    out = processor.prepare(
        [
            message("kilowatch/hmo/main/readings", both),
            message("kilowatch/sea/main/readings", both),
        ],
        NOW,
    )
    stored = out.stored_readings({("hmo", "main", 1795168800)})
    assert (len(stored["hmo"]), len(stored["sea"])) == (0, 1)


def test_accepted_readings_come_as_columns_in_runs_of_one_meter(
    processor: ReadingProcessor,
) -> None:
    out = processor.prepare(
        [
            message(
                "kilowatch/sea/assembly-01/readings",
                '[{"ts": 1795168800, "energy_kwh": 1, "reactive_kvarh": 0.5},'
                ' {"ts": 1795169100, "energy_kwh": 2}]',
            ),
            message("kilowatch/hmo/press-01/readings", '{"ts": 1795168800, "energy_kwh": 9}'),
            message("kilowatch/sea/lighting/readings", '{"ts": 1795168800, "energy_kwh": 3}'),
            message("kilowatch/sea/assembly-01/readings", '{"ts": 1795169400, "energy_kwh": 4}'),
        ],
        NOW,
    )
    sea = out.accepted["sea"]
    assert sea.runs == [("assembly-01", 0, 2), ("lighting", 2, 3), ("assembly-01", 3, 4)]
    assert sea.ts.tolist() == [1795168800, 1795169100, 1795168800, 1795169400]
    assert sea.energy_kwh.tolist() == [1, 2, 3, 4]
    assert sea.interval_s.tolist() == [300] * 4
    assert sea.reactive_kvarh[0] == 0.5 and np.isnan(sea.reactive_kvarh[1:]).all()
    assert out.accepted["hmo"].runs == [("press-01", 0, 1)]

    stored = out.stored_readings({("sea", "assembly-01", 1795169100)})["sea"]
    assert stored.runs == [("assembly-01", 0, 1), ("lighting", 1, 2), ("assembly-01", 2, 3)]
    assert stored.energy_kwh.tolist() == [1, 3, 4]


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
    processor: ReadingProcessor, messages: list[list[Reading]]
) -> None:
    tariff = processor.tariffs["sea"]
    out = processor.prepare(
        [
            message(readings_topic("sea", "assembly-01"), encode_readings(m).decode())
            for m in messages
        ],
        NOW,
    )
    assert out.rejected == 0
    for readings, lines in zip(messages, out.lines, strict=True):
        assert len(lines) == len(readings)
        for reading, line in zip(readings, lines, strict=True):
            fields = fields_of(line)
            cost = tariff.cost(reading.ts, reading.interval_s, reading.energy_kwh)
            assert fields.pop("cost") == pytest.approx(cost.cost, rel=1e-12)
            assert fields.pop("rate") == pytest.approx(cost.rate, rel=1e-12)
            assert fields == expected_fields(reading)
            assert line.endswith(f" {reading.ts}000000000")
