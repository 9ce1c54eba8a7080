"""The MQTT contract: what is accepted, what is rejected and why."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kilowatch.contract import (
    MAX_PAYLOAD_BYTES,
    Reading,
    TopicError,
    encode_readings,
    parse_message,
    parse_topic,
    readings_topic,
)

NOW = 1_796_000_000.0  # 2026-11-30T00:53:20Z
TOPIC = "kilowatch/mty/press-01/readings"


def parse(payload: bytes | str, topic: str = TOPIC):
    raw = payload.encode() if isinstance(payload, str) else payload
    return parse_message(topic, raw, NOW)


def test_full_reading_is_parsed_with_every_field() -> None:
    result = parse(
        '{"ts": "2026-11-29T14:05:00-06:00", "energy_kwh": 12.5, "interval_s": 900, "seq": 7,'
        ' "energy_total_kwh": 1000.5, "power_kw": 50, "reactive_kvarh": 3.5, "power_factor": 0.93,'
        ' "voltage_v": [230, 231, 229.5], "current_a": [10, 11, 12], "vendor_extra": "ignored"}'
    )
    assert result.rejections == []
    assert result.readings == [
        Reading(
            plant="mty",
            meter="press-01",
            ts=1795982700,  # 2026-11-29T20:05:00Z
            energy_kwh=12.5,
            interval_s=900,
            seq=7,
            energy_total_kwh=1000.5,
            power_kw=50.0,
            reactive_kvarh=3.5,
            power_factor=0.93,
            voltage_v=(230.0, 231.0, 229.5),
            current_a=(10.0, 11.0, 12.0),
        )
    ]


def test_unix_seconds_and_default_interval() -> None:
    (reading,) = parse('{"ts": 1795963500, "energy_kwh": 0}').readings
    assert reading.ts == 1795963500
    assert reading.interval_s == 300


def test_array_keeps_good_readings_and_rejects_each_bad_one() -> None:
    result = parse('[{"ts": 1795963500, "energy_kwh": 1}, {"ts": 1795963800}, 5]')
    assert [r.ts for r in result.readings] == [1795963500]
    assert [r.reason for r in result.rejections] == ["missing_energy", "not_object"]
    assert result.rejections[0].payload == b'{"ts":1795963800}'


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe{", "invalid_utf8"),
        (b"{not json", "invalid_json"),
        (b'"text"', "not_object"),
        (b"42", "not_object"),
        (b'{"energy_kwh": 1}', "missing_ts"),
        (b'{"ts": "yesterday", "energy_kwh": 1}', "invalid_ts"),
        (b'{"ts": "2026-11-29T10:00:00", "energy_kwh": 1}', "invalid_ts"),  # no offset
        (b'{"ts": true, "energy_kwh": 1}', "invalid_ts"),
        (b'{"ts": 1796001000, "energy_kwh": 1}', "future_ts"),  # NOW + 1000 s
        (b'{"ts": 1795963500}', "missing_energy"),
        (b'{"ts": 1795963500, "energy_kwh": -0.1}', "invalid_energy"),
        (b'{"ts": 1795963500, "energy_kwh": NaN}', "invalid_energy"),
        (b'{"ts": 1795963500, "energy_kwh": Infinity}', "invalid_energy"),
        (b'{"ts": 1795963500, "energy_kwh": "12"}', "invalid_energy"),
        (b'{"ts": 1795963500, "energy_kwh": null}', "invalid_energy"),
        (b'{"ts": 1795963500, "energy_kwh": 1, "interval_s": 0}', "invalid_interval"),
        (b'{"ts": 1795963500, "energy_kwh": 1, "interval_s": 2.5}', "invalid_interval"),
        (b'{"ts": 1795963500, "energy_kwh": 1, "power_factor": 1.2}', "invalid_power_factor"),
        (b'{"ts": 1795963500, "energy_kwh": 1, "voltage_v": [1, 2, 3, 4]}', "invalid_field"),
        (b'{"ts": 1795963500, "energy_kwh": 1, "power_kw": "high"}', "invalid_field"),
        (b'{"ts": 1795963500, "energy_kwh": 1, "seq": -1}', "invalid_field"),
        (b'{"ts": 1795963500, "energy_kwh": 1, "note": "caf\xe9"}', "invalid_utf8"),
        (b"[]", "no_readings"),
        (b'{"ts": "\\ud800", "energy_kwh": 1}', "invalid_ts"),  # a lone surrogate
        (b'{"ts": "9999-12-31T23:59:60Z", "energy_kwh": 1}', "invalid_ts"),
        (b'{"ts": "0001-01-01T00:00:00Z", "energy_kwh": 1}', "invalid_ts"),
        (b'{"ts": "1969-12-31T23:59:59Z", "energy_kwh": 1}', "invalid_ts"),
        (b'{"ts": "20261129T100000Z", "energy_kwh": 1}', "invalid_ts"),  # ISO 8601, not RFC 3339
        (b'{"ts": "2026-11-29T10:00+01", "energy_kwh": 1}', "invalid_ts"),
        (b'{"ts": 1' + b"0" * 400 + b', "energy_kwh": 1}', "invalid_ts"),
        (b'{"ts": 1795963500, "energy_kwh": 1' + b"0" * 400 + b"}", "invalid_energy"),
        (b'{"ts": 1795963500, "energy_kwh": 1.7e308}', "invalid_energy"),
        (
            b'{"ts": 1795963500, "energy_kwh": 1, "interval_s": 3' + b"0" * 400 + b"}",
            "invalid_interval",
        ),
        (
            b'{"ts": 1795963500, "energy_kwh": 1, "power_kw": -1' + b"0" * 400 + b"}",
            "invalid_field",
        ),
        (b'{"ts": 1795963500, "energy_kwh": 1, "power_kw": 2e15}', "invalid_field"),
        (
            b'{"ts": 1795963500, "energy_kwh": 1, "voltage_v": [1' + b"0" * 400 + b"]}",
            "invalid_field",
        ),
        (b'{"ts": 1795963500, "energy_kwh": 1, "voltage_v": [230, 231]}', "invalid_field"),
        (
            b'{"ts": 1795963500, "energy_kwh": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "invalid_json",
        ),
    ],
)
def test_bad_input_is_rejected_with_its_reason(payload: bytes, reason: str) -> None:
    result = parse(payload)
    assert result.readings == []
    assert [r.reason for r in result.rejections] == [reason]
    rejection = result.rejections[0]
    assert (rejection.plant, rejection.meter) == ("mty", "press-01")
    assert rejection.payload == payload
    assert rejection.detail


@pytest.mark.parametrize(
    ("text", "ts"),
    [
        ("2026-11-29t10:00:00z", 1795946400),  # RFC 3339 allows lower case
        ("2026-11-29T10:00:00.4999995Z", 1795946400),  # more digits than microseconds
        ("2026-11-29 11:00:00+01:00", 1795946400),
        ("2016-12-31T23:59:60Z", 1483228800),  # a leap second: the next second
    ],
)
def test_timestamps_read_alike_alone_and_beside_a_bad_reading(text: str, ts: int) -> None:
    alone = parse(json.dumps({"ts": text, "energy_kwh": 1}))
    beside = parse(json.dumps([{"ts": text, "energy_kwh": 1}, {"ts": text}]))
    assert [r.ts for r in alone.readings] == [r.ts for r in beside.readings] == [ts]
    assert [r.reason for r in beside.rejections] == ["missing_energy"]


def test_a_bad_reading_only_pythons_json_reads_is_set_aside_with_the_others_kept() -> None:
    payload = '[{"ts": 1795963500, "energy_kwh": 1}, {"ts": 1795963800, "note": "\\ud800"}]'
    result = parse(payload)
    assert [r.ts for r in result.readings] == [1795963500]
    assert [r.reason for r in result.rejections] == ["missing_energy"]
    assert json.loads(result.rejections[0].payload) == {"ts": 1795963800, "note": "\ud800"}


def test_oversized_payload_and_array_are_rejected() -> None:
    big = b'{"ts": 1795963500, "energy_kwh": 1, "pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    assert [r.reason for r in parse(big).rejections] == ["payload_too_large"]
    many = json.dumps([{"ts": 1795963500, "energy_kwh": 1}] * 1001)
    assert [r.reason for r in parse(many).rejections] == ["too_many_readings"]


@pytest.mark.parametrize(
    "topic",
    [
        "kilowatch/mty/readings",
        "other/mty/m1/readings",
        "kilowatch/mty/m1/status",
        "kilowatch/m ty/m1/readings",
        "kilowatch/mty/m,1/readings",
        "kilowatch/mty/m=1/readings",
        'kilowatch/mty/m"1/readings',
        "kilowatch/mty/m\n1/readings",
        "kilowatch/mty/m1\n/readings",  # a final newline: "$" alone would let it through
        "kilowatch//m1/readings",
        "kilowatch/" + "p" * 65 + "/m1/readings",
    ],
)
def test_topics_that_could_inject_tags_are_rejected(topic: str) -> None:
    result = parse('{"ts": 1795963500, "energy_kwh": 1}', topic=topic)
    assert result.readings == []
    assert [r.reason for r in result.rejections] == ["bad_topic"]
    with pytest.raises(TopicError):
        parse_topic(topic)


def test_topic_prefix_is_configurable() -> None:
    assert parse_topic("site7/mty/m1/readings", prefix="site7").meter == "m1"
    assert readings_topic("mty", "m1", prefix="site7") == "site7/mty/m1/readings"


ids = st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True)
finite = st.floats(min_value=0, max_value=1e9, allow_nan=False)
readings = st.builds(
    Reading,
    plant=st.just("mty"),
    meter=st.just("press-01"),
    ts=st.integers(min_value=0, max_value=int(NOW)),
    energy_kwh=finite,
    interval_s=st.integers(min_value=1, max_value=86400),
    seq=st.none() | st.integers(min_value=0, max_value=2**53),
    energy_total_kwh=st.none() | finite,
    power_kw=st.none() | st.floats(min_value=-1e6, max_value=1e6),
    reactive_kvarh=st.none() | st.floats(min_value=-1e6, max_value=1e6),
    power_factor=st.none() | st.floats(min_value=-1, max_value=1),
    voltage_v=st.sampled_from([0, 1, 3]).flatmap(lambda n: st.tuples(*[finite] * n)),
    current_a=st.sampled_from([0, 1, 3]).flatmap(lambda n: st.tuples(*[finite] * n)),
)


@given(st.lists(readings, min_size=1, max_size=20))
def test_encoded_readings_parse_back_unchanged(batch: list[Reading]) -> None:
    result = parse(encode_readings(batch))
    assert result.rejections == []
    assert result.readings == batch


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    result = parse(payload)
    assert len(result.readings) + len(result.rejections) >= 1
    for reading in result.readings:
        assert reading.energy_kwh >= 0 and math.isfinite(reading.energy_kwh)


@given(ids, ids)
def test_valid_ids_round_trip_through_the_topic(plant: str, meter: str) -> None:
    where = parse_topic(readings_topic(plant, meter))
    assert (where.plant, where.meter) == (plant, meter)


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=10**300, max_value=10**400),
    st.sampled_from(
        [
            "2026-11-29T10:00:00Z",
            "2026-11-29T10:00:00",
            "2026-11-29 10:00:00+01:00",
            "2026-11-29t10:00:00z",
            "2026-11-29T10:00:00.4999995Z",
            "2016-12-31T23:59:60Z",
            "1969-12-31T23:59:59Z",
            "20261129T100000Z",
        ]
    ),
    st.lists(st.floats(min_value=-1e16, max_value=1e16), max_size=4),
    st.text(max_size=5),
)
FIELDS = [
    "ts",
    "energy_kwh",
    "interval_s",
    "seq",
    "energy_total_kwh",
    "power_kw",
    "reactive_kvarh",
    "power_factor",
    "voltage_v",
    "current_a",
]
near_valid = st.fixed_dictionaries(
    {
        "ts": st.integers(min_value=0, max_value=int(NOW)) | json_values,
        "energy_kwh": st.floats(min_value=0, max_value=1e6) | json_values,
    },
    optional={name: json_values for name in FIELDS[2:]},
)


@given(st.lists(near_valid, min_size=1, max_size=5))
@example([{"ts": -0.5, "energy_kwh": 0.0}])  # rounds to 0, but is a negative time
def test_fast_path_accepts_exactly_what_the_checks_accept(objects: list[dict]) -> None:
    """The msgspec fast path never accepts what the field-by-field checks would reject."""
    from kilowatch.contract.readings import InvalidField, _parse_valid, parse_reading

    payload = json.dumps(objects).encode()
    fast = _parse_valid(payload, "mty", "press-01", NOW)
    try:
        slow = [parse_reading(obj, "mty", "press-01", NOW) for obj in json.loads(payload)]
    except InvalidField:
        slow = None
    if fast is not None:
        assert fast == slow
    if slow is not None:
        assert parse(payload).readings == slow
