"""Start-up of `kilowatch bridge`: check everything, connect, run until a signal says stop."""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time

from kilowatch.billing.influx import InfluxSource
from kilowatch.bridge.health import BridgeHealth, Window
from kilowatch.bridge.process import ReadingProcessor
from kilowatch.bridge.running import RunningBills
from kilowatch.bridge.service import Bridge
from kilowatch.bridge.settings import BridgeSettings
from kilowatch.config import load_config
from kilowatch.influx.writer import (
    ApiVersion,
    InfluxTarget,
    InfluxWriteError,
    InfluxWriter,
    access_error,
    detect_version,
    open_writer,
)

logger = logging.getLogger(__name__)


def run_bridge(settings: BridgeSettings) -> int:
    """Run the bridge until SIGINT/SIGTERM; bad configuration raises before anything connects."""
    config = load_config(settings.config)
    processor = ReadingProcessor(config, settings.topic_prefix)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    writer = _connect_influx(settings, stop)
    if writer is None:
        return 0
    running = RunningBills.restore(
        processor.tariffs,
        InfluxSource(
            settings.influx_url,
            settings.influx_bucket,
            settings.influx_token.get_secret_value(),
        ),
        time.time(),
    )
    bridge = Bridge(settings, processor, writer, running)
    threading.Thread(target=lambda: (stop.wait(), bridge.stop()), daemon=True).start()
    logger.info(
        "bridge %s: %d plants, MQTT %s, InfluxDB %s bucket %s",
        settings.mqtt_client_id,
        len(config.plants),
        settings.mqtt,
        settings.influx_url,
        settings.influx_bucket,
    )
    # Start-up left ~120,000 long-lived objects (modules, tariffs, restored bills): the garbage
    # collector's full passes need not walk them again and again while the bridge is busy.
    gc.freeze()
    bridge.run()
    return 0


def _connect_influx(settings: BridgeSettings, stop: threading.Event) -> InfluxWriter | None:
    """The writer, once InfluxDB answers (waiting for it, as in a compose start-up)."""
    target = InfluxTarget(
        url=settings.influx_url,
        bucket=settings.influx_bucket,
        org=settings.influx_org,
        token=settings.influx_token.get_secret_value(),
    )
    delay = settings.retry_initial_s
    while not stop.is_set():
        try:
            version: ApiVersion = (
                detect_version(settings.influx_url)
                if settings.influx_version == "auto"
                else settings.influx_version
            )
            writer = open_writer(target, version)
            try:
                # A first, empty health point: wrong credentials, org or bucket show now.
                writer.write(
                    [BridgeHealth(settings.mqtt_client_id).point(Window(), time.time(), 0)]
                )
            except InfluxWriteError:
                writer.close()
                raise
            logger.info("InfluxDB %s API at %s", version, settings.influx_url)
            return writer
        except InfluxWriteError as err:
            refused = access_error(err, settings.influx_url, settings.influx_bucket)
            if refused is not None:
                raise refused from None
            if not err.retryable:
                raise
            logger.warning("waiting for InfluxDB (%s); next try in %.0f s", err, delay)
            stop.wait(delay)
            delay = min(delay * settings.retry_exponential_base, settings.retry_max_s)
    return None
