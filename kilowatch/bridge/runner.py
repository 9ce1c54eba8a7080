"""Start-up of `kilowatch bridge`: check everything, connect, run until a signal says stop."""

from __future__ import annotations

import gc
import logging
import threading
import time

from kilowatch.bridge.bills import RunningBills
from kilowatch.bridge.health import BridgeHealth, Window
from kilowatch.bridge.service import Bridge
from kilowatch.bridge.settings import BridgeSettings
from kilowatch.config import KilowatchConfig, load_config
from kilowatch.influx.reader import InfluxSource
from kilowatch.influx.writer import (
    ApiVersion,
    InfluxTarget,
    InfluxWriteError,
    InfluxWriter,
    access_error,
    detect_version,
    open_writer,
)
from kilowatch.processing import Processor
from kilowatch.signals import stop_on_signals

logger = logging.getLogger(__name__)


def run_bridge(settings: BridgeSettings) -> int:
    """Run the bridge until SIGINT/SIGTERM; bad configuration raises before anything connects."""
    config = load_config(settings.config)
    processor = Processor(config, settings.topic_prefix)
    stop = threading.Event()
    with stop_on_signals(stop):
        return _run(settings, config, processor, stop)


def _run(
    settings: BridgeSettings, config: KilowatchConfig, processor: Processor, stop: threading.Event
) -> int:
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
    if settings.demand_watch:
        running.watch_demand({plant.id: plant for plant in config.plants})
    bridge = Bridge(settings, processor, writer, running)

    def stop_when_told() -> None:
        stop.wait()
        bridge.stop()

    threading.Thread(target=stop_when_told, daemon=True).start()
    logger.info(
        "bridge %s: %d plants, MQTT %s (%s receive path), InfluxDB %s bucket %s",
        settings.mqtt_client_id,
        len(config.plants),
        settings.mqtt,
        settings.mqtt_receive,
        settings.influx_url,
        settings.influx_bucket,
    )
    # Start-up left ~120,000 long-lived objects (modules, tariffs, restored bills): the garbage
    # collector's full passes need not walk them again and again while the bridge is busy.
    gc.freeze()
    bridge.run()
    logger.info("bridge stopped: what was received and not stored stays with the broker")
    return 0


def _connect_influx(settings: BridgeSettings, stop: threading.Event) -> InfluxWriter | None:
    """The writer, once InfluxDB answers (waiting for it, as in a compose start-up)."""
    target = InfluxTarget(
        url=settings.influx_url,
        bucket=settings.influx_bucket,
        org=settings.influx_org,
        token=settings.influx_token.get_secret_value(),
    )
    delays = settings.retry_policy.delays()
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
            delay = next(delays)
            logger.warning("waiting for InfluxDB (%s); next try in %.0f s", err, delay)
            stop.wait(delay)
    return None
