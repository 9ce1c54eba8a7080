"""Start-up of `kilowatch simulate`: build the fleet, connect, publish until a limit or a signal."""

from __future__ import annotations

import logging
import threading
import time

from kilowatch.settings import SettingsError
from kilowatch.signals import stop_on_signals
from kilowatch.simulator.fleet import build_fleet
from kilowatch.simulator.publisher import publish_fleet, replay_clock
from kilowatch.simulator.settings import SimulatorSettings, duration_text
from kilowatch.simulator.sink import MqttSink

logger = logging.getLogger(__name__)


def run_simulator(settings: SimulatorSettings) -> int:
    """Publish the fleet's readings; 0 when every message was acknowledged, 1 when some were not
    (or the broker was never reached: nothing is published before it is).

    A bad plant file raises ConfigError before anything connects. SIGINT or SIGTERM stops it
    cleanly (a second one stops waiting for the last PUBACKs).
    """
    fleet = build_fleet(settings)
    wall = time.time()
    timeline = replay_clock(wall, settings.backfill, settings.speed)
    deadline = None if settings.duration is None else wall + settings.duration
    logger.info(
        "simulating %d meters (%d plants: %s) every %d s, seed %d; backfill %s at speed %g; "
        "publishing to %s",
        len(fleet),
        len({meter.plant for meter in fleet}),
        ", ".join(sorted({meter.plant for meter in fleet})),
        settings.interval_s,
        settings.seed,
        duration_text(settings.backfill) if settings.backfill else "none",
        settings.speed,
        settings.mqtt,
    )
    stop, abort = threading.Event(), threading.Event()
    sink = MqttSink(
        settings.mqtt,
        settings.mqtt_client_id,
        max_unacked=settings.max_unacked,
        ca_file=settings.mqtt_ca_path,
        client_cert=settings.mqtt_client_cert,
        on_refused=lambda: _stop_now(stop, abort),
    )
    with stop_on_signals(stop, abort):
        sink.start()
        try:
            published = publish_fleet(
                fleet,
                sink,
                timeline,
                history_from=wall - settings.backfill,
                interval_s=settings.interval_s,
                batch_size=settings.batch_size,
                topic_prefix=settings.topic_prefix,
                stop=stop,
                count=settings.count,
                deadline=deadline,
                log_interval_s=settings.log_interval_s,
            )
            missing = sink.flush(settings.flush_timeout_s, abort)
        finally:
            sink.close()
    if sink.refused is not None:
        raise SettingsError(sink.refused)
    if not sink.ever_connected:
        logger.error(
            "stopped: never connected to %s, so nothing was published; check that the broker "
            "runs and --mqtt-url (or KILOWATCH_MQTT_URL)",
            settings.mqtt,
        )
        return 1
    logger.info(
        "stopped: %d readings per meter in %d messages, %d acknowledged",
        published,
        sink.published,
        sink.acknowledged,
    )
    if missing:
        logger.error(
            "%d messages were not acknowledged by the broker within %g s: their readings may "
            "not have arrived",
            missing,
            settings.flush_timeout_s,
        )
        return 1
    return 0


def _stop_now(stop: threading.Event, abort: threading.Event) -> None:
    """Stop publishing and waiting for PUBACKs (the broker refused the login for good)."""
    stop.set()
    abort.set()
