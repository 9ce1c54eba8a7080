"""`kilowatch simulate` end to end: a backfill through a real Mosquitto arrives whole and valid."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from kilowatch.contract import parse_message, readings_topic
from kilowatch.simulator import SimulatorSettings, run_simulator
from kilowatch.simulator.fleet import build_fleet
from tests.support.services import Mosquitto, SessionSubscriber


@pytest.mark.integration
def test_backfill_arrives_complete_as_contract_payloads(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = SimulatorSettings.load(
        mqtt_url=mosquitto.url,
        plants=2,
        meters=3,
        seed=5,
        backfill="1d",
        count=288,
        batch_size=100,
        log_interval_s=1,
    )
    fleet = build_fleet(settings)
    # One persistent subscriber per meter (its own process, mosquitto_sub): messages queue for
    # it while the simulator runs, and its topic says whose readings they are.
    subscribers = {}
    for i, meter in enumerate(fleet):
        topic = readings_topic(meter.plant, meter.meter)
        subscriber = SessionSubscriber(mosquitto, f"check-{i}", topic, tmp_path / f"{i}.out")
        subscriber.register()
        subscribers[topic] = subscriber

    started = time.time()
    assert run_simulator(settings) == 0
    finished = time.time()

    for meter, (topic, subscriber) in zip(fleet, subscribers.items(), strict=True):
        subscriber.connect()
        payloads = subscriber.drain()
        assert len(payloads) == 3  # 288 readings in arrays of at most 100
        readings = []
        for payload in payloads:
            parsed = parse_message(topic, payload.encode(), now=finished)
            assert parsed.rejections == []
            readings += parsed.readings
        stamps = [r.ts for r in readings]
        assert len(stamps) == 288
        assert all(ts % 300 == 0 for ts in stamps)
        assert all(b - a == 300 for a, b in itertools.pairwise(stamps))
        assert started - 86400 < stamps[0] and stamps[-1] <= finished
        # What arrived is exactly what the model says, register and all.
        assert readings == meter.readings(stamps[0], 300, 288, stamps[0] // 300)


@pytest.mark.integration
def test_a_refused_login_stops_it_with_status_2(tmp_path: Path) -> None:
    """One policy (kilowatch.mqtt.connection.LOGIN_REFUSED): refused before it ever connected,
    the settings are wrong; the simulator says so and exits 2 instead of retrying forever."""
    import subprocess

    from tests.support.services import kilowatch_argv, require_binary

    passwords = tmp_path / "passwd"
    subprocess.run(
        [require_binary("mosquitto_passwd", "mosquitto"), "-b", "-c", str(passwords), "sim", "ok"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    with Mosquitto(password_file=passwords, workdir=tmp_path / "broker") as broker:
        done = subprocess.run(
            kilowatch_argv(
                "simulate",
                *("--plants", "1", "--meters", "1", "--count", "1"),
                *("--mqtt-url", f"mqtt://sim:wrong@127.0.0.1:{broker.port}"),
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the broker "), done.stderr
    assert "refused the simulator's login" in last and "wrong" not in last


@pytest.mark.integration
def test_with_no_broker_it_claims_nothing_and_stops_at_once(tmp_path: Path) -> None:
    """No broker at the URL: no 'backfill done', and SIGTERM does not wait for PUBACKs (here up
    to 600 s) from a broker it never reached; nothing was published, so exit status 1."""
    import os
    import signal
    import subprocess

    from tests.support.services import free_port, kilowatch_argv

    log = tmp_path / "stderr.txt"
    with log.open("wb") as err:
        process = subprocess.Popen(
            kilowatch_argv(
                "simulate",
                *("--plants", "1", "--meters", "2", "--backfill", "1d"),
                *("--mqtt-url", f"mqtt://127.0.0.1:{free_port()}"),
            ),
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "KILOWATCH_FLUSH_TIMEOUT_S": "600"},
        )
    try:
        for _ in range(600):  # until paho has tried the broker once
            if "cannot reach broker" in log.read_text():
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the simulator never tried the broker: {log.read_text()}")
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=120)
    finally:
        process.kill()
        process.wait()
    text = log.read_text()
    assert "backfill done" not in text and "now live" not in text, text
    assert status == 1, text
    assert "never connected to" in text and "nothing was published" in text, text
