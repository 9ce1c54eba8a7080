"""The bridge's shell: MQTT in, InfluxDB out, and a message acknowledged only once it is stored.

Three stages in threads: paho's network thread queues each message (and sends the PUBACKs of
stored ones); the main thread batches and costs them (ReadingProcessor); the store thread writes
each batch, retrying until InfluxDB accepts (write_concurrency requests at once), and only then
releases its PUBACKs. Unacknowledged messages stay the broker's responsibility, so a crash or
an InfluxDB outage loses nothing: the broker redelivers, and rewriting a reading stores it
once (same series, same timestamp).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import paho.mqtt.client as mqtt

from kilowatch.bridge.buffered import BufferedReadClient
from kilowatch.bridge.health import BridgeHealth, Window
from kilowatch.bridge.process import ENERGY, Message, Prepared, ReadingProcessor
from kilowatch.bridge.running import RunningBills
from kilowatch.bridge.settings import BridgeSettings
from kilowatch.connections import mqtt_client
from kilowatch.contract import Rejection
from kilowatch.influx.writer import InfluxWriteError, InfluxWriter

logger = logging.getLogger(__name__)

ACK_IDLE_S = 0.01  # with no message arriving to carry them, stored messages wait this long for acks


class Delivery(NamedTuple):
    """A received message and what is needed to acknowledge it on the connection it came on."""

    message: Message
    mid: int
    qos: int
    connection: int


class Bridge:
    """Subscribes, stores and acknowledges until `stop()`."""

    def __init__(
        self,
        settings: BridgeSettings,
        processor: ReadingProcessor,
        writer: InfluxWriter,
        running: RunningBills | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._processor = processor
        self._writer = writer
        self._running = running
        self._clock = clock
        # A SimpleQueue (C, lock-free for this use) costs a fraction of a Queue per message.
        self._pending: queue.SimpleQueue[tuple[mqtt.MQTTMessage, int, float]] = queue.SimpleQueue()
        self._max_pending = settings.max_pending_messages
        # At most one costed batch waits while another is written: memory stays bounded.
        self._prepared: queue.Queue[tuple[list[Delivery], Prepared, float] | None] = queue.Queue(
            maxsize=1
        )
        self._acks: collections.deque[Delivery] = collections.deque()  # stored, not yet acked
        self._ack_lock = threading.Lock()
        self._write_pool = ThreadPoolExecutor(settings.write_concurrency, "bridge-write")
        self._stopping = threading.Event()
        self._connection = 0  # bumped on every (re)connect: old message ids mean nothing after
        self.health = BridgeHealth(settings.mqtt_client_id)
        self._client = mqtt_client(
            settings.mqtt,
            settings.mqtt_client_id,
            persistent=True,
            ca_file=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
            manual_ack=True,
            client_class=BufferedReadClient,
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    # MQTT thread

    def _on_connect(self, client: mqtt.Client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            logger.error("broker %s refused the connection: %s", self._settings.mqtt, reason_code)
            return
        self._connection += 1
        topics = self._settings.subscriptions
        client.subscribe([(topic, 1) for topic in topics])
        logger.info("connected to %s, subscribed to %s", self._settings.mqtt, ", ".join(topics))

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props) -> None:
        if not self._stopping.is_set():
            logger.warning("lost the broker (%s); reconnecting", reason_code)

    def _flush_acks(self, *, wait: bool) -> None:
        """Send the PUBACKs of stored messages, in order, on the connection they came on.

        Called from the network thread on every message (cheap, and no cross-thread wake-up
        per PUBACK) and from the store thread when it is idle, so the last acks always go out.
        """
        if not self._ack_lock.acquire(blocking=wait):
            return
        try:
            while self._acks:
                delivery = self._acks.popleft()
                if delivery.connection == self._connection:
                    self._client.ack(delivery.mid, delivery.qos)
        finally:
            self._ack_lock.release()

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        # Kept minimal: this thread's time per message sets the bridge's ceiling.
        self.health.messages_received_total += 1  # written by this thread only
        if self._acks:
            self._flush_acks(wait=False)
        while self._pending.qsize() >= self._max_pending and not self._stopping.is_set():
            # Full: paho stops reading the socket and the broker holds the rest.
            self._stopping.wait(0.01)
        self._pending.put((msg, self._connection, self._clock()))

    # Main thread: batch and cost

    def run(self) -> None:
        """Connect and process until stop() is called.

        Two stages overlap: this thread costs batch n+1 while the store thread writes batch n,
        so the broker keeps sending (batches are smaller than its in-flight window).
        """
        target = self._settings.mqtt
        self._client.connect_async(target.host, target.port, keepalive=30)
        self._client.loop_start()
        store = threading.Thread(target=self._store_loop, name="bridge-store", daemon=True)
        store.start()
        try:
            while not self._stopping.is_set():
                batch = self._collect()
                if batch:
                    prepared = self._processor.prepare([d.message for d in batch], self._clock())
                    self._prepared.put((batch, prepared, time.monotonic()))
        finally:
            self._prepared.put(None)
            store.join()
            self._client.disconnect()
            self._client.loop_stop()
            self._write_pool.shutdown()
            self._writer.close()

    def _store_loop(self) -> None:
        """Write, acknowledge and report health until run() sends None."""
        next_health = next_log = self._clock()
        minute = Window()
        while True:
            try:
                item = self._prepared.get(timeout=ACK_IDLE_S)
            except queue.Empty:
                item = ()
                self._flush_acks(wait=True)
            if item is None:
                return
            if item:
                self._store(*item)
            now = self._clock()
            if now >= next_health:
                minute.add(self._report_health(now))
                next_health = now + self._settings.health_interval_s
            if now >= next_log:
                logger.info(
                    self.health.summary(minute, self._settings.log_interval_s, self.queue_depth)
                )
                minute = Window()
                next_log = now + self._settings.log_interval_s

    def stop(self) -> None:
        """Finish the batch in hand, then disconnect; what is not stored stays with the broker."""
        self._stopping.set()

    @property
    def queue_depth(self) -> int:
        return self._pending.qsize()

    def _collect(self) -> list[Delivery]:
        """Up to batch_max_messages deliveries, once one has come and flush_interval has passed.

        It sleeps through the interval instead of waiting on the queue: a thread woken by each
        message takes the GIL from the MQTT thread thousands of times a second.
        """
        try:
            received = [self._pending.get(timeout=0.2)]
        except queue.Empty:
            return []
        limit = self._settings.batch_max_messages
        if self._pending.qsize() < limit - 1:
            time.sleep(self._settings.flush_interval_ms / 1000)
        size = len(received[0][0].payload)
        while len(received) < limit and size < 8_000_000:
            try:
                item = self._pending.get_nowait()
            except queue.Empty:
                break
            received.append(item)
            size += len(item[0].payload)
        return [
            Delivery(Message(msg.topic, msg.payload, at), msg.mid, msg.qos, connection)
            for msg, connection, at in received
        ]

    def _store(self, batch: list[Delivery], prepared: Prepared, started: float) -> None:
        refused = self._write_batch(batch, prepared)
        if refused is None:
            return  # stopped while InfluxDB was down: nothing acknowledged, the broker redelivers
        self._acks.extend(batch)  # sent by the network thread, or by _store_loop when idle
        if self._running is not None:
            self._running.count(prepared.accepted)
        now = self._clock()
        self.health.stored(
            readings=prepared.readings - refused,
            rejected=prepared.rejected + refused,
            seconds=time.monotonic() - started,
            lag_s=now - min(d.message.received_at for d in batch),
            newest_ts=prepared.newest_ts,
        )

    def _write_batch(self, batch: list[Delivery], prepared: Prepared) -> int | None:
        """Store every message's lines; the readings InfluxDB refused, None if stopped first."""
        lines = [line for per_message in prepared.lines for line in per_message]
        try:
            return 0 if self._write_until_stored(lines) else None
        except InfluxWriteError as err:
            logger.warning("InfluxDB refused a batch (%s); writing its messages one by one", err)
        refused = 0
        for delivery, message_lines in zip(batch, prepared.lines, strict=True):
            try:
                if not self._write_until_stored(message_lines):
                    return None
            except InfluxWriteError as err:
                refused += sum(1 for line in message_lines if line.startswith(ENERGY + ","))
                if not self._set_aside(delivery.message, str(err)):
                    return None
        return refused

    def _set_aside(self, message: Message, why: str) -> bool:
        """Store a message InfluxDB refused as a `rejected` point; False if stopped first."""
        rejection = Rejection(
            "storage_rejected",
            f"InfluxDB refused this message's points: {why}"[:1000],
            payload=message.payload,
        )
        lines = self._processor.rejection_lines([rejection], message.received_at)
        try:
            return self._write_until_stored(lines)
        except InfluxWriteError as err:
            logger.error(
                "InfluxDB refused even the rejection record, dropping the message: %s", err
            )
            return True

    def _write_until_stored(self, lines: list[str]) -> bool:
        """Write in chunks of batch_size lines, write_concurrency at a time, until all are stored.

        True once every line is stored; False if the bridge was stopped before that;
        InfluxWriteError when InfluxDB refuses for good (a bad point, a missing bucket).
        """
        size = self._settings.batch_size
        chunks = [lines[start : start + size] for start in range(0, len(lines), size)]
        if len(chunks) <= 1:
            return all(self._write_chunk(chunk) for chunk in chunks)
        # Concurrent writes use InfluxDB's cores while a request is parsed (about +40 % here).
        return all(list(self._write_pool.map(self._write_chunk, chunks)))

    def _write_chunk(self, chunk: list[str]) -> bool:
        """One write, retried with exponential backoff while the failure is temporary."""
        delay = self._settings.retry_initial_s
        while True:
            try:
                self._writer.write(chunk)
                return True
            except InfluxWriteError as err:
                if not err.retryable:
                    raise
                if self._stopping.is_set():
                    return False
                self.health.retried()
                logger.warning("write failed, retrying in %.1f s: %s", delay, err)
                self._stopping.wait(delay)
                delay = min(
                    delay * self._settings.retry_exponential_base, self._settings.retry_max_s
                )

    def _report_health(self, now: float) -> Window:
        """The health point, each plant's info and running bill; InfluxDB down: next time."""
        window = self.health.take_window()
        lines = [self.health.point(window, now, self.queue_depth)]
        lines += self._processor.plant_info_lines(now)
        if self._running is not None:
            lines += self._running.lines(now)
        try:
            self._writer.write(lines)
        except InfluxWriteError as err:
            logger.warning("could not write the health and billing points: %s", err)
        return window
