"""The bridge's shell: MQTT in, InfluxDB out, and a message acknowledged only once it is stored.

Three stages in threads: the MQTT network thread queues the messages of each socket read (and
sends PUBACKs); the main thread batches them, has kilowatch.processing validate and cost them
and kilowatch.influx.schema lay them out as lines; write_concurrency
store threads each write a batch, retrying until InfluxDB accepts it, and only then queue its
PUBACKs, as one write. A fourth thread reports health. Unacknowledged messages stay the broker's
responsibility, so a crash or an InfluxDB outage loses nothing: the broker redelivers, and
rewriting a reading stores it once (same series, same timestamp).
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kilowatch.bridge.bills import RunningBills
from kilowatch.bridge.health import BridgeHealth, Window
from kilowatch.bridge.receipts import batch_receipts
from kilowatch.bridge.rejection_log import RejectionLog
from kilowatch.bridge.settings import BridgeSettings
from kilowatch.influx.schema import LineLayout, plant_info_line
from kilowatch.influx.writer import InfluxWriteError, InfluxWriter, write_with_retry
from kilowatch.mqtt.connection import LOGIN_REFUSED, mqtt_client
from kilowatch.mqtt.receive import RECEIVE_CLIENTS, Publish, ReceiveClient
from kilowatch.processing import Key, Message, Processed, Processor
from kilowatch.settings import SettingsError
from kilowatch.storage import store_batch

logger = logging.getLogger(__name__)

UNREACHABLE_LOG_S = 60.0
IDLE_S = 0.2  # how often the main thread, with nothing to batch, checks for stop()
QUIET_S = 0.002  # no message for this long: the batch has all it will get soon
BATCH_MAX_BYTES = 1_000_000  # of payloads (~15,000 readings in arrays): batches overlap


_PAYLOAD = operator.attrgetter("payload")


class Received(NamedTuple):
    """The messages of one socket read, and the connection they came on."""

    publishes: list[Publish]
    connection: int
    at: float  # Unix seconds


class Batch(NamedTuple):
    """Messages costed and ready to store, and the reads they came in (to acknowledge them)."""

    number: int  # batches are numbered in the order their messages arrived
    reads: list[Received]
    messages: list[Message]
    processed: Processed
    lines: list[list[str]]  # each message's lines (its energy points last)
    started: float  # time.monotonic() when costing finished


class Bridge:
    """Subscribes, stores and acknowledges until `stop()`."""

    def __init__(
        self,
        settings: BridgeSettings,
        processor: Processor,
        writer: InfluxWriter,
        running: RunningBills | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._processor = processor
        self._layout = LineLayout()
        self._retry = settings.retry_policy
        self._writer = writer
        self._running = running
        self._clock = clock
        self._pending: queue.SimpleQueue[Received] = queue.SimpleQueue()
        self._leftover: Received | None = None  # the part of a read that overflowed a batch
        self._received = 0  # messages queued: written by the network thread only
        self._taken = 0  # messages taken into batches: written by the main thread only
        self._received_bytes = 0  # of payloads, likewise: memory is bounded in both
        self._taken_bytes = 0
        self._max_pending = settings.max_pending_messages
        self._max_pending_bytes = settings.max_pending_mb * 1_000_000
        # At most one costed batch waits while another is written: memory stays bounded.
        self._prepared: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._stopping = threading.Event()
        self._disconnected = threading.Event()
        # Bumped when a connection starts and when it ends, under _ack_lock: the message ids of
        # one connection mean nothing on the next, and PUBACKs must never precede a CONNECT.
        self._connection = 0
        self._ever_connected = False  # a login refused before the first connection is fatal
        self._ack_lock = threading.Lock()
        self._stored_reads: dict[int, list[Received]] = {}  # by batch number, until acknowledged
        self._next_ack = 0  # the batch number whose PUBACKs go out next
        self._failure: BaseException | None = None  # what stopped a store thread
        self.health = BridgeHealth(settings.mqtt_client_id)
        self._client: ReceiveClient = mqtt_client(
            settings.mqtt,
            settings.mqtt_client_id,
            persistent=True,
            ca_file=settings.mqtt_ca_path,
            client_cert=settings.mqtt_client_cert,
            manual_ack=True,
            client_class=RECEIVE_CLIENTS[settings.mqtt_receive],
        )
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._rejection_log = RejectionLog()
        self._unreachable_logged = 0.0  # when "cannot reach the broker" was last logged
        self._client.on_publishes = self._on_publishes

    # MQTT thread

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            logger.error("broker %s refused the connection: %s", self._settings.mqtt, reason_code)
            if not self._ever_connected and reason_code.value in LOGIN_REFUSED:
                # Never connected: the settings are wrong, and retrying would only hide it.
                self._failure = SettingsError(
                    f"KILOWATCH_MQTT_URL: the broker {self._settings.mqtt} refused the bridge's "
                    f"login ({reason_code}); check the user name and password in the URL"
                )
                self._stopping.set()
            return
        self._ever_connected = True
        with self._ack_lock:
            self._connection += 1
        topics = self._settings.subscriptions
        client.subscribe([(topic, 1) for topic in topics])
        logger.info("connected to %s, subscribed to %s", self._settings.mqtt, ", ".join(topics))

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        # paho retries every few seconds; say so at start and then every minute, not each time.
        now = time.monotonic()
        if now - self._unreachable_logged >= UNREACHABLE_LOG_S:
            self._unreachable_logged = now
            logger.warning("cannot reach the broker %s; retrying", self._settings.mqtt)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        # paho calls this before it reconnects and drops what was queued for the old socket.
        with self._ack_lock:
            self._connection += 1
        self._disconnected.set()
        if not self._stopping.is_set():
            logger.warning("lost the broker (%s); reconnecting", reason_code)

    def _on_publishes(self, _client: mqtt.Client, publishes: list[Publish]) -> None:
        # Kept minimal: this thread's time per message sets the bridge's ceiling.
        self.health.messages_received_total += len(publishes)  # written by this thread only
        read = Received(publishes, self._connection, self._clock())
        self._received_bytes += _payload_bytes(read)
        self._received += len(publishes)
        self._pending.put(read)
        if self._full():
            # Full: stop reading the socket (the broker holds the rest). Never wait here: this
            # thread also sends the keepalive, and a broker that hears nothing for 1.5 x
            # keepalive drops the connection and redelivers everything unacknowledged.
            self._client.pause_reading()

    def _full(self) -> bool:
        return (
            self.queue_depth >= self._max_pending or self.pending_bytes >= self._max_pending_bytes
        )

    # Main thread: batch and cost

    def run(self) -> None:
        """Connect and process until stop() is called.

        The stages overlap: this thread costs batch n+2 while the store threads write batches
        n and n+1, so the broker keeps sending (batches are smaller than its in-flight window).
        """
        target = self._settings.mqtt
        self._client.connect_async(
            target.host, target.port, keepalive=self._settings.mqtt_keepalive_s
        )
        self._client.loop_start()
        stores = [
            threading.Thread(target=self._store_loop, name=f"bridge-store-{n}", daemon=True)
            for n in range(self._settings.write_concurrency)
        ]
        reporter = threading.Thread(target=self._report_loop, name="bridge-health", daemon=True)
        for thread in [*stores, reporter]:
            thread.start()
        numbers = itertools.count()
        try:
            while not self._stopping.is_set():
                reads = self._collect()
                if reads:
                    messages = [
                        Message(p.topic, p.payload, read.at)
                        for read in reads
                        for p in read.publishes
                    ]
                    processed = self._processor.process(messages, self._clock())
                    self._rejection_log.add(processed.rejections)
                    lines = self._layout.batch_lines(processed, messages)
                    batch = Batch(
                        next(numbers), reads, messages, processed, lines, time.monotonic()
                    )
                    self._prepared.put(batch)
        finally:
            self._stopping.set()  # also when costing failed: the other threads end too
            for _ in stores:
                self._prepared.put(None)
            for thread in [*stores, reporter]:
                thread.join()
            self._disconnected.clear()
            self._client.disconnect()
            self._disconnected.wait(5)  # the last PUBACKs go out before the DISCONNECT
            self._client.loop_stop()
            self._writer.close()
            self._rejection_log.flush()
        if isinstance(self._failure, SettingsError):
            raise self._failure
        if self._failure is not None:
            raise RuntimeError("a store thread failed; see the log above") from self._failure

    def _store_loop(self) -> None:
        """Write and acknowledge batches until run() sends None.

        An unexpected error stops the bridge (unacknowledged, the batch stays with the broker);
        the thread then only empties the queue, so that run() never waits for it.
        """
        while (batch := self._prepared.get()) is not None:
            if self._failure is not None:
                continue
            try:
                self._store(batch)
            except Exception as err:
                logger.exception("storing a batch failed; stopping the bridge")
                self._failure = err
                self._stopping.set()

    def _report_loop(self) -> None:
        """The health point every health_interval (with plant_info and billing points every
        billing_interval), and a log line every log_interval."""
        next_health = next_billing = next_log = self._clock()
        minute = Window()
        while not self._stopping.is_set():
            now = self._clock()
            if now >= next_health:
                billing = now >= next_billing
                try:
                    minute.add(self._report_health(now, billing=billing))
                except Exception:  # a reporting bug must not stop the storing
                    logger.exception("reporting health failed")
                next_health = now + self._settings.health_interval_s
                if billing:
                    next_billing = now + self._settings.billing_interval_s
            if now >= next_log:
                logger.info(
                    self.health.summary(minute, self._settings.log_interval_s, self.queue_depth)
                )
                minute = Window()
                next_log = now + self._settings.log_interval_s
            self._stopping.wait(max(0.0, min(next_health, next_log) - self._clock()))

    def stop(self) -> None:
        """Finish the batch in hand, then disconnect; what is not stored stays with the broker."""
        self._stopping.set()

    @property
    def queue_depth(self) -> int:
        """Messages received and not yet taken into a batch."""
        return self._received - self._taken

    @property
    def pending_bytes(self) -> int:
        """Payload bytes received and not yet taken into a batch."""
        return self._received_bytes - self._taken_bytes

    def _collect(self) -> list[Received]:
        """Reads holding up to batch_max_messages, once one has come and the batch has filled.

        It sleeps instead of waiting on the queue: a thread woken by each read would take the
        GIL from the network thread many times a second.
        """
        if self._client.reading_paused and not self._full():
            self._client.resume_reading()
            paused_s = time.monotonic() - self._client.paused_since
            if paused_s >= 1:
                logger.info("reading the broker again after %.1f s with a full queue", paused_s)
        first, self._leftover = self._leftover, None
        if first is None:
            try:
                first = self._pending.get(timeout=IDLE_S)
            except queue.Empty:
                return []
        limit = self._settings.batch_max_messages
        self._wait_for_more(limit)
        reads, count = [first], len(first.publishes)
        size = _payload_bytes(first)
        while count < limit and size < BATCH_MAX_BYTES:
            try:
                read = self._pending.get_nowait()
            except queue.Empty:
                break
            room = limit - count
            if len(read.publishes) > room:  # the rest starts the next batch
                self._leftover = read._replace(publishes=read.publishes[room:])
                read = read._replace(publishes=read.publishes[:room])
            reads.append(read)
            count += len(read.publishes)
            size += _payload_bytes(read)
        if count > limit:  # a leftover or a single read larger than a batch
            self._leftover = first._replace(publishes=first.publishes[limit:])
            reads = [first._replace(publishes=first.publishes[:limit])]
            count, size = limit, _payload_bytes(reads[0])
        self._taken += count
        self._taken_bytes += size
        return reads

    def _wait_for_more(self, limit: int) -> None:
        """Let a batch fill for up to flush_interval, but not while nothing arrives.

        Messages stop coming when the broker's in-flight window is full of messages waiting
        for their PUBACKs, and only storing this batch brings those: waiting would be idle time.
        """
        deadline = time.monotonic() + self._settings.flush_interval_ms / 1000
        seen = self._received
        while self.queue_depth < limit and time.monotonic() < deadline:
            time.sleep(QUIET_S)
            if self._received == seen:
                return
            seen = self._received

    def _store(self, batch: Batch) -> None:
        refused = self._write_batch(batch)
        if refused is None:
            return  # stopped while InfluxDB was down: nothing acknowledged, the broker redelivers
        self._acknowledge(batch.number, batch.reads)
        processed = batch.processed
        if self._settings.receipts:
            self._send_receipts(batch, refused)
        stored = processed.stored_readings(refused)
        if self._running is not None:
            self._running.count(stored)
        readings = sum(map(len, stored.values()))
        now = self._clock()
        if self._running is not None and self._settings.demand_watch:
            self._running.observe(processed)
            self._write_demand_watch(now)
        self.health.stored(
            readings=readings,
            rejected=processed.rejected + processed.readings - readings,
            seconds=time.monotonic() - batch.started,
            lag_s=now - min(read.at for read in batch.reads),
            newest_ts=processed.newest_ts,
        )

    def _send_receipts(self, batch: Batch, refused: set[Key]) -> None:
        """Tell each agent that asked which of its readings this batch stored or rejected (QoS 1;
        paho keeps them across a reconnect). Sent after the PUBACKs: a receipt lost in a crash
        only makes the agent send those readings again, and they are stored once."""
        receipts = batch_receipts(
            batch.messages, batch.processed, refused, self._clock(), self._settings.topic_prefix
        )
        if receipts and self._settings.test_kill_before_receipts:
            self._kill_before_receipts()
        for topic, payload in receipts:
            self._client.publish(topic, payload, qos=1)

    def _kill_before_receipts(self) -> None:
        """Tests only: die like a power cut after the PUBACKs have left, before the receipts."""
        deadline = time.monotonic() + 5
        while self._client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # the bytes are in the kernel; let them reach the broker
        logger.error("KILOWATCH_TEST_KILL_BEFORE_RECEIPTS is set: killing the bridge (SIGKILL)")
        os.kill(os.getpid(), signal.SIGKILL)

    def _write_demand_watch(self, now: float) -> None:
        """The demand and budget projections, when due; InfluxDB down: the next batch's."""
        assert self._running is not None
        lines = self._running.demand_lines(now, self._settings.demand_watch_interval_s)
        if not lines:
            return
        try:
            self._writer.write(lines)
        except InfluxWriteError as err:
            logger.warning("could not write the demand_watch points: %s", err)

    def _acknowledge(self, number: int, reads: list[Received]) -> None:
        """PUBACK the stored messages that came on this connection (after a reconnect, the
        broker redelivers the others, and their old message ids mean nothing).

        PUBACKs go out in the order the messages came (MQTT 3.1.1, 4.6.0-2), so a batch stored
        before an earlier one waits for it.
        """
        with self._ack_lock:
            self._stored_reads[number] = reads
            current = self._connection
            while (ready := self._stored_reads.pop(self._next_ack, None)) is not None:
                self._next_ack += 1
                mids = [
                    p.mid
                    for r in ready
                    if r.connection == current
                    for p in r.publishes
                    if p.qos == 1
                ]
                self._client.ack_many(mids)

    def _write_batch(self, batch: Batch) -> set[Key] | None:
        """Store every message's lines; the (plant, meter, ts) of the readings InfluxDB refused
        (set aside in `rejected`, see kilowatch.storage), None if stopped first."""
        return store_batch(
            self._write_until_stored,
            batch.messages,
            batch.processed,
            batch.lines,
            self._layout.rejected_lines,
        )

    def _write_until_stored(self, lines: list[str]) -> bool:
        """Write in chunks of batch_size lines until all are stored.

        True once every line is stored; False if the bridge was stopped before that;
        InfluxWriteError when InfluxDB refuses for good (a bad point, a missing bucket).
        """
        size = self._settings.batch_size
        return all(
            self._write_chunk(lines[start : start + size]) for start in range(0, len(lines), size)
        )

    def _write_chunk(self, chunk: list[str]) -> bool:
        """One write, retried with backoff and jitter while the failure is temporary."""
        return write_with_retry(
            self._writer,
            chunk,
            self._retry,
            stop=self._stopping,
            on_retry=self._retried,
        )

    def _retried(self, err: InfluxWriteError, delay: float) -> None:
        self.health.retried()
        logger.warning("write failed, retrying in %.1f s: %s", delay, err)

    def _report_health(self, now: float, *, billing: bool) -> Window:
        """The health point, and each plant's info and running bill if billing; InfluxDB down:
        next time."""
        window = self.health.take_window()
        lines = [self.health.point(window, now, self.queue_depth)]
        if billing:
            lines += [plant_info_line(info, now) for info in self._processor.plant_info(now)]
            if self._running is not None:
                lines += self._running.lines(now)
                # Between batches too (meters may send every 15 minutes): the demand rule
                # reads the last 2 minutes of demand_watch.
                if self._settings.demand_watch:
                    lines += self._running.demand_lines(now, self._settings.demand_watch_interval_s)
        try:
            self._writer.write(lines)
        except InfluxWriteError as err:
            logger.warning("could not write the health and billing points: %s", err)
            self.health.give_back(window)  # its counts (retries, above all) go in the next point
            return Window()
        return window


def _payload_bytes(read: Received) -> int:
    return sum(map(len, map(_PAYLOAD, read.publishes)))
