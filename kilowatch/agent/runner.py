"""The agent's main loop: poll on the clock, commit, publish live readings, drain the backlog,
report health; and `run_agent(settings)`, what `kilowatch agent` runs.

One thread owns SQLite and the Modbus links; paho's network thread only reports events.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, replace

from kilowatch import __version__
from kilowatch.agent.capacity import DiskCap, assess
from kilowatch.agent.energy import CounterRules, MeterState
from kilowatch.agent.outbox import Batch, TokenBucket, plan_batches
from kilowatch.agent.poller import Poller
from kilowatch.agent.publisher import Event, Publisher
from kilowatch.agent.settings import (
    AgentConfig,
    AgentConfigError,
    AgentSettings,
    MeterConfig,
    ModbusMeterConfig,
    load_agent_config,
)
from kilowatch.agent.sources import open_sources
from kilowatch.agent.store import PendingRow, ReadingStore, StoreError
from kilowatch.clock import AcceleratedClock, Clock, SystemClock, next_slot, slot_at
from kilowatch.contract import AgentStatus, readings_topic, status_topic
from kilowatch.contract.receipts import (
    Receipt,
    ReceiptError,
    parse_receipt,
    receipts_topic,
    run_length,
)
from kilowatch.registers import FieldName, RegisterMap
from kilowatch.signals import stop_on_signals

logger = logging.getLogger(__name__)

MAX_WAIT_S = 0.25  # longest sleep: how quickly a stop signal is noticed
SHUTDOWN_ACK_WAIT_S = 3.0  # on stop, how long to wait for PUBACKs of messages in flight
MIN_PLAUSIBLE_TS = 1_704_067_200  # 2024-01-01: a clock before this was never set (no RTC, no NTP)
FAILURE_REMINDER_POLLS = 12  # a meter that keeps failing is logged again this often (1 h at 5 min)


@dataclass(slots=True)
class Health:
    """Counters for the status message."""

    started: float
    poll_errors: int = 0
    polls_skipped: int = 0
    last_poll_ts: int | None = None
    last_publish_ts: int | None = None
    storage_full: bool = False


class Agent:
    """Everything the agent does, driven by run()."""

    def __init__(
        self,
        config: AgentConfig,
        clock: Clock,
        store: ReadingStore,
        poller: Poller,
        publisher: Publisher,
        prefix: str,
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.poller = poller
        self.publisher = publisher
        self.prefix = prefix
        self.cap: DiskCap = config.storage.cap()
        self.states: dict[str, MeterState] = store.states()
        self.failing_polls: dict[str, int] = {}  # meter -> polls in a row it failed
        self.paused = False
        self.health = Health(started=time.monotonic())
        drain = config.drain
        self.bucket = TokenBucket(
            drain.rate_readings_per_s,
            max(drain.batch_readings, drain.rate_readings_per_s),
            time.monotonic(),
        )
        self._planned: deque[Batch] = deque()
        self._cursor: tuple[int, int] | None = None
        self._drain_idle = False  # True: nothing to plan until new rows, acks or a reconnect
        # delivery: stored: rows wait in SQLite for the bridge's receipt, not only the PUBACK.
        self.receipts = config.delivery == "stored"
        self._resend_at: float | None = None  # wall time the next row without receipt is due
        self._receipts: list[Receipt] = []
        self._receipt_mids: list[int] = []  # acknowledged once applied
        self._acked: list[int] = []
        self._outage_logged = False
        self._stopping = False

    # The loop.
    def run(self, stop: threading.Event) -> int:
        """Run until `stop` is set; rows not acknowledged by then stay in SQLite."""
        interval = self.config.interval_s
        self.publisher.start()
        next_poll = next_slot(self.clock.now(), interval)
        next_status = time.monotonic() + min(5.0, self.config.status_interval_s)
        logger.info(
            "agent %s of plant %s: %d meters every %d s, %d readings waiting in %s",
            self.config.agent,
            self.config.plant,
            len(self.config.meters),
            interval,
            self.store.stats().pending,
            self.store.path,
        )
        while not stop.is_set():
            now = self.clock.now()
            if now >= next_poll:
                self.poll(slot_at(now, interval))
                next_poll = next_slot(self.clock.now(), interval)
            drain_wait = self.drain() if self.publisher.connected else float("inf")
            if time.monotonic() >= next_status:
                self.report()
                next_status = time.monotonic() + self.config.status_interval_s
            wait = min(
                self.clock.real_seconds(next_poll - self.clock.now()),
                next_status - time.monotonic(),
                drain_wait,
                MAX_WAIT_S,
            )
            self.pump(max(0.0, wait))
        self._shutdown()
        return 0

    def pump(self, timeout_s: float) -> None:
        """Handle network events (waiting up to timeout_s for the first), then commit acks."""
        events: list[Event] = []
        try:
            if timeout_s > 0:
                events.append(self.publisher.events.get(timeout=timeout_s))
            while True:
                events.append(self.publisher.events.get_nowait())
        except queue.Empty:
            pass
        for event in events:
            self._handle(event)
        if self._acked:
            if self.receipts:
                self.store.mark_published(self._acked, time.time(), self.config.receipt_timeout_s)
            else:
                self.store.mark_sent(self._acked)
            self._acked = []
            self.health.last_publish_ts = int(self.clock.now())
        if self._receipts:
            self._apply_receipts(self._receipts)
            self._receipts = []
        if self._receipt_mids:
            self.publisher.ack_receipts(self._receipt_mids)
            self._receipt_mids = []

    def _handle(self, event: Event) -> None:
        ids = self.publisher.handle(event)
        if event.kind == "receipt":
            self._take_receipt(event)
            return
        if event.kind == "receipts_refused":
            logger.error(
                "broker %s refused the subscription to %s (%s): no receipts will come, so "
                "readings are sent again every receipt_timeout_s; allow it in the broker's ACL, "
                "or set delivery: broker",
                self.publisher.target,
                self.publisher.receipts_topic,
                event.detail,
            )
            return
        if event.kind == "acked":
            self._acked.extend(ids)
            self._drain_idle = False
            return
        if event.kind == "connected":
            logger.info("connected to broker %s (%s)", self.publisher.target, event.detail)
            self.bucket.reset(time.monotonic())
            self._drain_idle = False
            self._outage_logged = False
            return
        if self._outage_logged or self._stopping:
            return  # paho retries every few seconds: one line per outage is enough
        self._outage_logged = True
        if event.kind == "refused":
            logger.error(
                "broker %s refused the connection (%s): check KILOWATCH_MQTT_USERNAME and "
                "KILOWATCH_MQTT_PASSWORD; readings are kept until it accepts",
                self.publisher.target,
                event.detail,
            )
        else:
            logger.warning(
                "broker %s %s; readings are kept in SQLite and sent when it is back",
                self.publisher.target,
                "unreachable" if event.kind == "unreachable" else f"lost ({event.detail})",
            )

    # Receipts.
    def _take_receipt(self, event: Event) -> None:
        self._receipt_mids.append(event.mid)
        try:
            receipt = parse_receipt(event.detail, event.payload, self.prefix)
        except ReceiptError as err:
            logger.error("ignored a receipt: %s", err)
            return
        if (receipt.plant, receipt.agent) != (self.config.plant, self.config.agent):
            logger.error("ignored a receipt for %s/%s", receipt.plant, receipt.agent)
            return
        self._receipts.append(receipt)

    def _apply_receipts(self, receipts: list[Receipt]) -> None:
        """Delete what receipts say is stored or rejected; log and count the rejections."""
        self.store.delete_runs(
            [(meter, runs) for r in receipts for meter, runs in r.stored.items()]
        )
        # Counted as deleted here, so that a receipt delivered twice is not counted twice.
        rejected = self.store.delete_runs(
            [(entry.meter, entry.runs) for r in receipts for entry in r.rejected]
        )
        for entry in (entry for receipt in receipts for entry in receipt.rejected):
            logger.error(
                "the bridge rejected %d readings of meter %s (%s: %s); they are not sent again "
                "(the bridge keeps them in its rejected measurement)",
                sum(map(run_length, entry.runs)),
                entry.meter,
                entry.reason,
                entry.detail,
            )
        if rejected:
            self.store.count_rejected(rejected)

    # Polling.
    def poll(self, ts: int) -> None:
        """Poll every meter for slot `ts`, commit, then publish what was committed."""
        if ts < MIN_PLAUSIBLE_TS:
            logger.error(
                "the system clock says %s, before 2024: it is not set (no NTP yet?); "
                "polls are skipped until it is, the meters keep counting",
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)),
            )
            return
        self.health.last_poll_ts = ts
        if not self._apply_cap():
            self.health.polls_skipped += 1
            logger.warning(
                "storage full: poll at %d not stored (policy pause); the meters keep counting "
                "and the next stored reading covers the gap",
                ts,
            )
            return
        result = self.poller.poll(ts, self.states)
        self._track_failures(result.errors)
        added = self.store.add(result.readings, result.states)
        self.states.update({state.meter: state for state in result.states})
        if not added:
            return
        if self.publisher.connected:
            # Live readings go out first, outside the backlog's rate limit.
            for batch in plan_batches(added, self.config.drain.batch_readings):
                self._send(batch)
        else:
            self._drain_idle = False

    def _track_failures(self, errors: dict[str, str]) -> None:
        """Log a meter when it starts failing, and again every FAILURE_REMINDER_POLLS polls."""
        self.health.poll_errors += len(errors)
        for meter, reason in errors.items():
            streak = self.failing_polls.get(meter, 0) + 1
            self.failing_polls[meter] = streak
            if streak == 1:
                logger.error("meter %s: %s (the other meters go on)", meter, reason)
            elif streak % FAILURE_REMINDER_POLLS == 0:
                logger.error("meter %s still fails (%d polls in a row): %s", meter, streak, reason)
        for meter in set(self.failing_polls) - set(errors):
            logger.info("meter %s answers again", meter)
            del self.failing_polls[meter]

    def _apply_cap(self) -> bool:
        """Enforce the disk cap; False when polling is paused (policy pause, storage full)."""
        stats = self.store.stats()
        action = assess(stats, self.cap, self.clock.now(), self.paused)
        if action.expire_before_ts is not None:
            dropped = self.store.drop_older_than(action.expire_before_ts)
            logger.error(
                "storage: dropped %d readings older than %s days (ts %s..%s); "
                "raise storage.max_age_days to keep them longer",
                dropped.count,
                self.config.storage.max_age_days,
                dropped.first_ts,
                dropped.last_ts,
            )
            self._planned.clear()
        if action.drop_count:
            dropped = self.store.drop_oldest(action.drop_count)
            logger.error(
                "storage full (%.1f of %.1f MB): dropped the %d oldest readings (ts %s..%s), "
                "policy drop_oldest",
                stats.used_bytes / 1e6,
                (self.cap.max_bytes or 0) / 1e6,
                dropped.count,
                dropped.first_ts,
                dropped.last_ts,
            )
            self._planned.clear()
        if action.paused and not self.paused:
            logger.error(
                "storage full (%.1f of %.1f MB): polling paused until the backlog drains below "
                "%d%% of storage.max_mb (policy pause); the meters keep counting, so no energy is "
                "lost, only the 5-minute profile of the gap",
                stats.used_bytes / 1e6,
                (self.cap.max_bytes or 0) / 1e6,
                round(self.cap.resume_fraction * 100),
            )
        elif self.paused and not action.paused:
            logger.warning("storage below the cap again: polling resumes")
        self.paused = action.paused
        self.health.storage_full = action.full or action.paused
        return not action.paused

    # Publishing.
    def _send(self, batch: Batch) -> None:
        topic = readings_topic(self.config.plant, batch.meter, self.prefix)
        agent = self.config.agent if self.receipts else None
        self.publisher.publish(topic, batch.payload(agent), tuple(batch.ids))

    def drain(self) -> float:
        """Publish backlog batches the rate allows; seconds until more could go."""
        drain = self.config.drain
        while self.publisher.inflight_messages < drain.max_inflight_messages:
            if not self._planned and not self._plan():
                if self._resend_at is None:
                    return float("inf")
                return max(0.0, self._resend_at - time.time())
            batch = self._planned[0]
            wait = self.bucket.wait_s(len(batch.rows), time.monotonic())
            if wait > 0:
                return wait
            self._planned.popleft()
            self.bucket.take(len(batch.rows), time.monotonic())
            self._send(batch)
        return MAX_WAIT_S  # window full: PUBACKs wake the loop

    def _plan(self) -> bool:
        """Plan the next window of the backlog, oldest first; False when nothing is left to send.

        With receipts, rows the broker acknowledged wait for theirs; once one is overdue the
        plan starts again from the oldest row, so they go out again oldest first.
        """
        now = time.time()
        if self._resend_at is not None and now >= self._resend_at:
            self._resend_at = None
            self._drain_idle = False
            self._cursor = None
            overdue = self.store.overdue(now)
            if overdue:
                logger.warning(
                    "no receipt for %d readings within receipt_timeout_s (%.0f s, doubled with "
                    "each try): sending them again, oldest first",
                    overdue,
                    self.config.receipt_timeout_s,
                )
        if self._drain_idle:
            return False
        window = self.config.drain.window_readings
        due = now if self.receipts else None
        rows = self.store.pending(window, after=self._cursor, due_at=due)
        if not rows and self._cursor is not None:
            self._cursor = None  # wrap: pick up rows older than the cursor, added meanwhile
            rows = self.store.pending(window, due_at=due)
        batches = self._batches(rows)
        if not batches:
            self._drain_idle = True
            if self.receipts:
                self._resend_at = self.store.next_resend_at()
            return False
        self._cursor = (rows[-1].ts, rows[-1].id)
        self._planned.extend(batches)
        return True

    def _batches(self, rows: list[PendingRow]) -> list[Batch]:
        inflight = self.publisher.inflight_ids()
        return plan_batches(rows, self.config.drain.batch_readings, skip_ids=inflight)

    # Health.
    def status(self) -> AgentStatus:
        """The agent's health now."""
        stats = self.store.stats()
        status = AgentStatus(
            plant=self.config.plant,
            agent=self.config.agent,
            ts=int(self.clock.now()),
            backlog_readings=stats.pending,
            oldest_pending_ts=stats.oldest_ts,
            inflight_readings=self.publisher.inflight_readings,
            last_publish_ts=self.health.last_publish_ts,
            last_poll_ts=self.health.last_poll_ts,
            poll_errors=self.health.poll_errors,
            meters=len(self.config.meters),
            failing_meters=tuple(sorted(self.failing_polls)),
            disk_used_bytes=stats.used_bytes,
            disk_cap_bytes=self.cap.max_bytes,
            storage_full=self.health.storage_full,
            readings_dropped=stats.dropped_total,
            polls_skipped=self.health.polls_skipped,
            uptime_s=round(time.monotonic() - self.health.started, 1),
            version=__version__,
        )
        if not self.receipts:
            return status
        count, first_sent, _ = self.store.awaiting_receipt()
        return replace(
            status,
            awaiting_receipt_readings=count,
            awaiting_receipt_s=0.0 if first_sent is None else round(time.time() - first_sent, 1),
            readings_rejected=self.store.rejected_total(),
        )

    def report(self) -> None:
        """Publish the status (when connected) and log it; give freed pages back to the disk."""
        status = self.status()
        logger.info(
            "status: %d readings waiting (oldest %s), %d in flight, %s awaiting receipt, "
            "%d poll errors, %s",
            status.backlog_readings,
            _utc(status.oldest_pending_ts),
            status.inflight_readings,
            "-" if status.awaiting_receipt_readings is None else status.awaiting_receipt_readings,
            status.poll_errors,
            "STORAGE FULL" if status.storage_full else "storage ok",
        )
        if self.publisher.connected:
            topic = status_topic(self.config.plant, self.config.agent, self.prefix)
            self.publisher.publish_untracked(topic, status.encode())
        self.store.reclaim()

    def _shutdown(self) -> None:
        """Give messages in flight a moment to be acknowledged, then close everything."""
        self._stopping = True
        deadline = time.monotonic() + SHUTDOWN_ACK_WAIT_S
        while self.publisher.inflight_messages and time.monotonic() < deadline:
            self.pump(MAX_WAIT_S)
        self.publisher.stop()
        self.pump(0)
        left = self.store.stats().pending
        self.store.close()
        for source in self.poller.sources.values():
            source.close()
        logger.info("agent stopped; %d readings kept in SQLite for the next start", left)


def make_clock(settings: AgentSettings) -> Clock:
    """The wall clock, or the accelerated one the clock_* settings describe."""
    if settings.clock_start is None:
        return SystemClock()
    anchor = time.time() if settings.clock_anchor is None else settings.clock_anchor
    return AcceleratedClock(settings.clock_start, settings.clock_speed, anchor)


def _utc(ts: int | None) -> str:
    """'2026-12-05 07:00:00Z' for a log line, '-' for none."""
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))


def build_agent(settings: AgentSettings) -> Agent:
    """The agent the settings describe, not yet connected; a bad setting raises here."""
    config, maps = load_agent_config(settings.agent_config)
    sources = open_sources(config, maps)
    rules = {
        meter.id: CounterRules(
            max_power_kw=meter.max_power_kw,
            rollover_kwh=_rollover(maps, meter, "energy_total_kwh"),
            rollover_kvarh=_rollover(maps, meter, "reactive_total_kvarh"),
        )
        for meter in config.meters
    }
    client_id = settings.mqtt_client_id or f"kilowatch-agent-{config.plant}-{config.agent}"
    publisher = Publisher(
        settings.mqtt,
        client_id,
        ca_file=settings.mqtt_ca_path,
        client_cert=settings.mqtt_client_cert,
        keepalive_s=settings.mqtt_keepalive_s,
        reconnect_max_s=settings.mqtt_reconnect_max_s,
        receipts_topic=(
            receipts_topic(config.plant, config.agent, settings.topic_prefix)
            if config.delivery == "stored"
            else None
        ),
    )
    try:
        store = ReadingStore(config.storage.path)
    except StoreError as err:
        raise AgentConfigError(f"storage.path in {settings.agent_config}: {err}") from None
    return Agent(
        config,
        make_clock(settings),
        store,
        Poller(config.plant, sources, rules),
        publisher,
        settings.topic_prefix,
    )


def run_agent(settings: AgentSettings) -> int:
    """Run the agent until SIGINT/SIGTERM; a bad setting raises before anything connects."""
    agent = build_agent(settings)
    stop = threading.Event()
    with stop_on_signals(stop):
        return agent.run(stop)


def _rollover(maps: dict[str, RegisterMap], meter: MeterConfig, field: FieldName) -> float | None:
    """Where the meter's counter wraps (Modbus maps only; the simulator never wraps)."""
    if isinstance(meter, ModbusMeterConfig):
        return maps[meter.map].rollover_kwh(field)
    return None
