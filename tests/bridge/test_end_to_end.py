"""The bridge end to end on real Mosquitto and InfluxDB 1.x: costs, duplicates, rejections.

Expected costs are worked out by hand from the shipped tariffs' published rates:
Seattle City Light large general (USD, no tax): peak 0.1091 Mon-Sat 06:00-22:00 except six
holidays, off-peak 0.0612; CFE GDMTH Noroeste (MXN + 16 % IVA): winter weekday punta 18-22,
domingo y festivo base 0-18 then intermedia; base 0.9408, intermedia 1.5035, punta 1.6658.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from kilowatch.contract import MAX_PAYLOAD_BYTES
from tests.bridge.conftest import (
    StartBridge,
    count_points,
    health_total,
    publish_raw,
    wait_for,
)
from tests.support.services import InfluxDB1, Mosquitto, publish_lines

pytestmark = pytest.mark.integration

SEA = "kilowatch/sea/assembly-01/readings"
HMO = "kilowatch/hmo/press-01/readings"
IVA = 1.16
# Both MQTT receive paths of the bridge (setting mqtt_receive) against the real broker.
RECEIVE_PATHS = pytest.mark.parametrize("receive", ["batch", "paho"])

# (topic, payload, expected cost, expected period, expected line)
CASES = [
    # 05:58-06:03 PST on a Tuesday: 2 min off-peak then 3 min peak, 5 kWh spread evenly.
    (
        SEA,
        '{"ts": "2026-11-24T06:03:00-08:00", "energy_kwh": 5}',
        2 * 0.0612 + 3 * 0.1091,
        "peak",
        "assembly",
    ),
    # Saturday before the clocks go back, 21:58-22:03 PDT: 2 min peak, 3 min off-peak.
    (
        SEA,
        '{"ts": "2026-10-31T22:03:00-07:00", "energy_kwh": 5}',
        2 * 0.1091 + 3 * 0.0612,
        "off_peak",
        "assembly",
    ),
    # The 25-hour day (Sunday 1 Nov 2026): its last 24 hours, 01:00 PDT to midnight PST, in one
    # reading: all of it off-peak.
    (
        SEA,
        '{"ts": "2026-11-02T00:00:00-08:00", "energy_kwh": 240, "interval_s": 86400}',
        240 * 0.0612,
        "off_peak",
        "assembly",
    ),
    # Monday after the change, 05:50-05:55 PST (13:55Z): off-peak; at UTC-7 it would be peak.
    (SEA, '{"ts": "2026-11-02T13:55:00Z", "energy_kwh": 10}', 10 * 0.0612, "off_peak", "assembly"),
    # Thanksgiving (holiday) at noon: off-peak; the day before at noon: peak.
    (
        SEA,
        '{"ts": "2026-11-26T12:00:00-08:00", "energy_kwh": 10}',
        10 * 0.0612,
        "off_peak",
        "assembly",
    ),
    (SEA, '{"ts": "2026-11-25T12:00:00-08:00", "energy_kwh": 10}', 10 * 0.1091, "peak", "assembly"),
    # CFE: Revolution Day (Monday 16 Nov 2026) is a festivo: 19:00-19:05 is intermedia, not punta.
    (
        HMO,
        '{"ts": "2026-11-16T19:05:00-07:00", "energy_kwh": 10}',
        10 * 1.5035 * IVA,
        "intermedia",
        "press",
    ),
    (
        HMO,
        '{"ts": "2026-11-23T19:05:00-07:00", "energy_kwh": 10}',
        10 * 1.6658 * IVA,
        "punta",
        "press",
    ),
    # Unix seconds work as well as RFC 3339: 1795154400 = 2026-11-20T06:00:00Z = 23:00 Thursday.
    (
        HMO,
        '{"ts": 1795154400, "energy_kwh": 2, "interval_s": 3600}',
        2 * 1.5035 * IVA,
        "intermedia",
        "press",
    ),
]


@RECEIVE_PATHS
def test_every_reading_is_costed_in_local_time(
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,
    receive: str,
) -> None:
    start_bridge(mosquitto, influxdb, influx_db_name, extra_env={"KILOWATCH_MQTT_RECEIVE": receive})
    for topic, payload, *_ in CASES:
        publish_lines(mosquitto, topic, [payload])
    wait_for("stored readings", lambda: count_points(influxdb, influx_db_name), len(CASES))

    rows = influxdb.query(
        'SELECT energy_kwh, cost, rate, "period", "line", tariff FROM energy', db=influx_db_name
    )
    assert len(rows) == len(CASES)
    by_cost = sorted(rows, key=lambda r: r["cost"])
    expected = sorted(CASES, key=lambda c: c[2])
    for row, (_topic, _payload, cost, period, line) in zip(by_cost, expected, strict=True):
        assert row["cost"] == pytest.approx(cost, rel=1e-9, abs=1e-9)
        assert row["period"] == period
        assert row["line"] == line
        assert row["rate"] == pytest.approx(row["cost"] / row["energy_kwh"], rel=1e-9)
    assert {r["tariff"] for r in rows} == {
        "scl-large-general-seattle@2025",
        "cfe-gdmth-noroeste@2026.09",
    }


def test_every_optional_measurement_is_stored(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, start_bridge: StartBridge
) -> None:
    start_bridge(mosquitto, influxdb, influx_db_name)
    publish_lines(
        mosquitto,
        "kilowatch/hmo/paint-oven/readings",
        [
            '{"ts": "2026-11-20T10:00:00Z", "energy_kwh": 12.5, "interval_s": 300, "seq": 41,'
            ' "energy_total_kwh": 9001.25, "power_kw": 150.5, "reactive_kvarh": 4.25,'
            ' "power_factor": 0.93, "voltage_v": [229.5, 230.5, 231.5],'
            ' "current_a": [200, 201, 202]}'
        ],
    )
    wait_for("stored readings", lambda: count_points(influxdb, influx_db_name), 1)
    (row,) = influxdb.query("SELECT * FROM energy", db=influx_db_name)
    assert row["time"] == 1795168800  # 2026-11-20T10:00:00Z
    assert (row["plant"], row["line"], row["meter"]) == ("hmo", "paint", "paint-oven")
    assert row["seq"] == 41 and row["interval_s"] == 300
    assert (row["energy_total_kwh"], row["power_kw"], row["reactive_kvarh"]) == (
        9001.25,
        150.5,
        4.25,
    )
    assert row["power_factor"] == 0.93
    assert [row[f"voltage_l{p}"] for p in (1, 2, 3)] == [229.5, 230.5, 231.5]
    assert [row[f"current_l{p}"] for p in (1, 2, 3)] == [200, 201, 202]


def test_a_reading_sent_twice_is_stored_once(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, start_bridge: StartBridge
) -> None:
    start_bridge(mosquitto, influxdb, influx_db_name)
    single = '{"ts": "2026-11-20T10:00:00Z", "energy_kwh": 3}'
    batch = (
        '[{"ts": "2026-11-20T10:00:00Z", "energy_kwh": 3},'
        ' {"ts": "2026-11-20T10:05:00Z", "energy_kwh": 4}]'
    )
    publish_lines(mosquitto, SEA, [single, single, batch, batch])
    wait_for(
        "readings received",
        lambda: health_total(influxdb, influx_db_name, "readings_received"),
        6,
    )
    rows = influxdb.query("SELECT energy_kwh FROM energy", db=influx_db_name)
    assert sorted(r["energy_kwh"] for r in rows) == [3, 4]


BAD_INPUTS = [
    ("kilowatch/sea/assembly-01/readings", b"\xff\xfe\xfd", "invalid_utf8"),
    ("kilowatch/sea/assembly-01/readings", b"{not json", "invalid_json"),
    ("kilowatch/sea/assembly-01/readings", b'"just text"', "not_object"),
    ("kilowatch/sea/assembly-01/readings", b'{"energy_kwh": 1}', "missing_ts"),
    ("kilowatch/sea/assembly-01/readings", b'{"ts": "noon", "energy_kwh": 1}', "invalid_ts"),
    (
        "kilowatch/sea/assembly-01/readings",
        b'{"ts": "2099-01-01T00:00:00Z", "energy_kwh": 1}',
        "future_ts",
    ),
    ("kilowatch/sea/assembly-01/readings", b'{"ts": 1795178400}', "missing_energy"),
    (
        "kilowatch/sea/assembly-01/readings",
        b'{"ts": 1795178400, "energy_kwh": -5}',
        "invalid_energy",
    ),
    (
        "kilowatch/sea/assembly-01/readings",
        b'{"ts": 1795178400, "energy_kwh": NaN}',
        "invalid_energy",
    ),
    (
        "kilowatch/sea/assembly-01/readings",
        b'{"ts": 1795178400, "energy_kwh": Infinity}',
        "invalid_energy",
    ),
    (
        "kilowatch/sea/assembly-01/readings",
        b'{"ts": 1795178400, "energy_kwh": "7"}',
        "invalid_energy",
    ),
    (
        "kilowatch/sea/assembly-01/readings",
        b'{"ts": 1795178400, "energy_kwh": 1, "power_factor": -1.5}',
        "invalid_power_factor",
    ),
    (
        "kilowatch/sea/assembly-01/readings",
        # Over the contract's limit yet under the broker's max_packet_size (which has room for
        # the topic), so it reaches the bridge: a broker without that limit lets larger ones in.
        b'{"ts": 1795178400, "energy_kwh": 1, "pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}',
        "payload_too_large",
    ),
    ("kilowatch/nowhere/m1/readings", b'{"ts": 1795178400, "energy_kwh": 1}', "unknown_plant"),
    ("kilowatch/sea/assembly-01/status", b'{"ts": 1795178400, "energy_kwh": 1}', None),
    ("kilowatch/sea/bad meter/readings", b'{"ts": 1795178400, "energy_kwh": 1}', "bad_topic"),
    ('kilowatch/sea/x",plant=evil/readings', b'{"ts": 1795178400, "energy_kwh": 1}', "bad_topic"),
]


@RECEIVE_PATHS
def test_bad_input_lands_in_rejected_with_its_reason_and_never_stops_the_bridge(
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,
    receive: str,
) -> None:
    bridge = start_bridge(
        mosquitto, influxdb, influx_db_name, extra_env={"KILOWATCH_MQTT_RECEIVE": receive}
    )
    for topic, payload, _ in BAD_INPUTS:
        publish_raw(mosquitto, topic, payload)
    # A good reading after all the bad ones: it is stored, so the bridge kept going.
    publish_lines(mosquitto, SEA, ['{"ts": 1795178400, "energy_kwh": 1}'])
    expected = [reason for _, _, reason in BAD_INPUTS if reason]
    wait_for(
        "rejections", lambda: count_points(influxdb, influx_db_name, "rejected"), len(expected)
    )
    wait_for("stored readings", lambda: count_points(influxdb, influx_db_name), 1)
    assert bridge.alive
    assert f"({receive} receive path)" in bridge.log_path.read_text(encoding="utf-8")

    rows = influxdb.query(
        'SELECT "reason", "plant", "meter", payload, detail FROM rejected', db=influx_db_name
    )
    assert sorted(r["reason"] for r in rows) == sorted(expected)
    for row in rows:
        assert row["detail"], row
    by_reason = {r["reason"]: r for r in rows}
    assert by_reason["invalid_energy"]["plant"] == "sea"
    assert by_reason["invalid_energy"]["meter"] == "assembly-01"
    assert by_reason["unknown_plant"]["plant"] == "nowhere"
    assert by_reason["missing_ts"]["payload"] == '{"energy_kwh": 1}'
    assert len(by_reason["payload_too_large"]["payload"]) == 4096
    assert by_reason["invalid_utf8"]["payload"] == r"\xff\xfe\xfd"
    # The topic with a quote and a comma created no tag and no other point.
    assert {r.get("plant") for r in rows if r["reason"] == "bad_topic"} == {None}
    assert count_points(influxdb, influx_db_name) == 1
    wait_for(
        "rejections counted in kilowatch_bridge",
        lambda: health_total(influxdb, influx_db_name, "rejected"),
        len(expected),
    )


def test_array_with_some_bad_readings_keeps_the_good_ones(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, start_bridge: StartBridge
) -> None:
    start_bridge(mosquitto, influxdb, influx_db_name)
    publish_lines(
        mosquitto,
        SEA,
        [
            '[{"ts": 1795178400, "energy_kwh": 1}, {"ts": 1795178700, "energy_kwh": -1},'
            ' {"ts": 1795179000, "energy_kwh": 2}, {"ts": 1795179300}]'
        ],
    )
    wait_for("stored readings", lambda: count_points(influxdb, influx_db_name), 2)
    wait_for("rejections", lambda: count_points(influxdb, influx_db_name, "rejected"), 2)
    rows = influxdb.query('SELECT "reason", payload FROM rejected', db=influx_db_name)
    assert sorted(r["reason"] for r in rows) == ["invalid_energy", "missing_energy"]
    assert '{"ts":1795178700,"energy_kwh":-1}' in {r["payload"] for r in rows}


@RECEIVE_PATHS
def test_a_point_influxdb_refuses_is_set_aside_and_left_out_of_the_bill(
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    influx_db_name: str,
    start_bridge: StartBridge,
    receive: str,
) -> None:
    now = int(time.time())
    end = now - now % 300
    seattle = ZoneInfo("America/Los_Angeles")
    if (
        datetime.fromtimestamp(end - 900, seattle).month
        != datetime.fromtimestamp(end, seattle).month
    ):
        pytest.skip("the readings would fall in two months' bills: run again in 15 minutes")
    # `seq` already stored as text in this shard: InfluxDB refuses any integer `seq` in it.
    influxdb.write(influx_db_name, [f'energy,meter=legacy seq="7" {end}'])
    start_bridge(mosquitto, influxdb, influx_db_name, extra_env={"KILOWATCH_MQTT_RECEIVE": receive})
    refused = f'{{"ts": {end - 600}, "energy_kwh": 3, "seq": 7}}'
    publish_lines(
        mosquitto,
        SEA,
        [
            f'{{"ts": {end - 900}, "energy_kwh": 2}}',
            f'[{{"ts": {end - 300}, "energy_kwh": 4}}, {refused}]',  # one point of two refused
        ],
    )
    wait_for("rejections", lambda: count_points(influxdb, influx_db_name, "rejected"), 1)
    [row] = influxdb.query("SELECT reason, detail, payload FROM rejected", db=influx_db_name)
    assert row["reason"] == "storage_rejected"
    assert "field type conflict" in row["detail"]
    assert f"seq=7i {(end - 600) * 10**9}" in row["detail"]  # the refused point itself
    assert row["payload"] == f'[{{"ts": {end - 300}, "energy_kwh": 4}}, {refused}]'
    assert count_points(influxdb, influx_db_name) == 2  # the other points were stored
    wait_for(
        "refused readings counted as rejected",
        lambda: health_total(influxdb, influx_db_name, "rejected"),
        1,
    )
    assert health_total(influxdb, influx_db_name, "readings_written") == 2
    wait_for("readings in the bill", lambda: int(plant_bill(influxdb, influx_db_name)[1]), 2)
    assert plant_bill(influxdb, influx_db_name) == (6, 2)


def plant_bill(influx: InfluxDB1, database: str) -> tuple[float, int]:
    """(kWh, readings) of plant sea's running bill, as last written."""
    rows = influx.query(
        "SELECT last(energy_kwh) AS energy_kwh, last(readings) AS readings FROM billing"
        " WHERE plant = 'sea' AND scope = 'plant'",
        db=database,
    )
    return (rows[0]["energy_kwh"], rows[0]["readings"]) if rows else (0.0, 0)


def test_agent_status_is_stored_for_dashboards(
    mosquitto: Mosquitto, influxdb: InfluxDB1, influx_db_name: str, start_bridge: StartBridge
) -> None:
    start_bridge(mosquitto, influxdb, influx_db_name)
    report = (
        '{"ts": 1795168800, "backlog_readings": 288, "oldest_pending_ts": 1795082400,'
        ' "inflight_readings": 0, "last_publish_ts": 1795082100, "poll_errors": 3, "meters": 4,'
        ' "failing_meters": ["press-02"], "disk_used_bytes": 1048576, "storage_full": false,'
        ' "uptime_s": 86400}'
    )
    publish_lines(mosquitto, "kilowatch/hmo/_agents/edge-7/status", [report])
    publish_lines(mosquitto, "kilowatch/nowhere/_agents/edge-9/status", [report])
    wait_for(
        "agent reports",
        lambda: len(influxdb.query("SELECT * FROM agent_status", db=influx_db_name)),
        1,
    )
    wait_for("rejections", lambda: count_points(influxdb, influx_db_name, "rejected"), 1)
    (row,) = influxdb.query("SELECT * FROM agent_status", db=influx_db_name)
    assert (row["plant"], row["agent"], row["time"]) == ("hmo", "edge-7", 1795168800)
    assert row["backlog_readings"] == 288
    assert row["backlog_age_s"] == 86400
    assert row["last_publish_age_s"] == 86700
    assert row["meters_failing"] == 1 and row["failing_meters"] == "press-02"
    (rejected,) = influxdb.query(
        'SELECT "reason", "plant", detail FROM rejected', db=influx_db_name
    )
    assert (rejected["reason"], rejected["plant"]) == ("unknown_plant", "nowhere")
