"""The agent's outbox: readings and meter baselines in SQLite until they are stored.

A row is deleted when the bridge's receipt says its reading is stored (or rejected), or, with
`delivery: broker`, on the broker's PUBACK. Between PUBACK and receipt it is "sent": `sent_at`
(first PUBACK) and `resend_at` (when it goes again if no receipt came; see README, "Receipts").

Durability choices (see README, "SQLite durability"):
- journal_mode=WAL: a commit appends to the write-ahead log; a crash or power loss in the middle
  of a write leaves the last committed state readable, and status readers never block the poller.
- synchronous=FULL: each commit is fsynced before it returns. With NORMAL, WAL mode may lose the
  last commits on power loss; a reading already published (and deleted on PUBACK) whose baseline
  update is lost would be measured again from the old baseline under another timestamp, and its
  energy would be counted twice. One fsync per poll and per acknowledged batch is cheap.
- The reading and the meter's new baseline are written in the same transaction, so a reading
  exists exactly when the baseline has moved past it.
- UNIQUE (meter, ts): a re-poll of the same slot cannot add a second reading.
- auto_vacuum=INCREMENTAL: pages freed by a drained backlog are given back to the file system.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from kilowatch.agent.energy import MeterState
from kilowatch.contract import Reading

SCHEMA_VERSION = 2
MAX_RESEND_FACTOR = 8  # the wait for a receipt doubles with each send, up to this x the timeout
DELETE_CHUNK = 900  # ids per DELETE statement: below SQLite's default limit of 999 variables

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    meter TEXT NOT NULL,
    ts INTEGER NOT NULL,
    body BLOB NOT NULL,
    sent_at REAL,
    resend_at REAL,
    sends INTEGER NOT NULL DEFAULT 0,
    UNIQUE (meter, ts)
);
CREATE INDEX IF NOT EXISTS readings_by_age ON readings (ts, id);
CREATE TABLE IF NOT EXISTS meter_state (
    meter TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    energy_total_kwh REAL NOT NULL,
    reactive_total_kvarh REAL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_by_resend ON readings (resend_at) WHERE resend_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


class StoreError(Exception):
    """The SQLite file cannot be opened or used; the message names the file."""


@dataclass(frozen=True, slots=True)
class PendingRow:
    """A stored reading waiting for its PUBACK: `body` is its JSON object, ready to send."""

    id: int
    meter: str
    ts: int
    body: bytes


@dataclass(frozen=True, slots=True)
class StoreStats:
    """How big the backlog is and how much disk it takes."""

    pending: int
    oldest_ts: int | None
    used_bytes: int  # pages in use: what the cap is measured against
    file_bytes: int  # the database file plus its WAL
    dropped_total: int  # readings ever removed by the disk cap (kept across restarts)


@dataclass(frozen=True, slots=True)
class Dropped:
    """Readings removed by the disk cap: how many and the time range they covered."""

    count: int
    first_ts: int | None = None
    last_ts: int | None = None


class ReadingStore:
    """Readings pending publication and each meter's baseline, in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect on a new file
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"SQLite file {self.path} cannot use WAL mode (got {mode})")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA journal_size_limit = 16777216")  # WAL file shrinks to 16 MiB
            self._upgrade()
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as err:
            raise StoreError(f"cannot open SQLite file {self.path}: {err}") from None

    def _upgrade(self) -> None:
        """Add the receipt columns to a file of schema version 1 (an agent upgraded in place)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(readings)")}
        if columns and "sent_at" not in columns:
            self._db.executescript(
                "BEGIN; ALTER TABLE readings ADD COLUMN sent_at REAL; "
                "ALTER TABLE readings ADD COLUMN resend_at REAL; "
                "ALTER TABLE readings ADD COLUMN sends INTEGER NOT NULL DEFAULT 0; COMMIT;"
            )

    def add(
        self, readings: Sequence[Reading], states: Iterable[MeterState] = ()
    ) -> list[PendingRow]:
        """Commit readings and the meters' new baselines in one transaction; the rows added.

        A reading whose (meter, ts) is already stored is skipped, not duplicated.
        """
        added: list[PendingRow] = []
        with self._transaction():
            for reading in readings:
                body = orjson.dumps(reading.to_json())
                row = self._db.execute(
                    "INSERT INTO readings (meter, ts, body) VALUES (?, ?, ?) "
                    "ON CONFLICT (meter, ts) DO NOTHING RETURNING id",
                    (reading.meter, reading.ts, body),
                ).fetchone()
                if row is not None:
                    added.append(PendingRow(row[0], reading.meter, reading.ts, body))
            self._db.executemany(
                "INSERT INTO meter_state (meter, ts, energy_total_kwh, reactive_total_kvarh, seq) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (meter) DO UPDATE SET ts = excluded.ts, "
                "energy_total_kwh = excluded.energy_total_kwh, "
                "reactive_total_kvarh = excluded.reactive_total_kvarh, seq = excluded.seq",
                [
                    (s.meter, s.ts, s.energy_total_kwh, s.reactive_total_kvarh, s.seq)
                    for s in states
                ],
            )
        return added

    def add_many(self, readings: Iterable[Reading]) -> int:
        """Bulk insert (backfill, benchmarks) in one transaction; how many were new."""
        rows = [(r.meter, r.ts, orjson.dumps(r.to_json())) for r in readings]
        with self._transaction():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT INTO readings (meter, ts, body) VALUES (?, ?, ?) "
                "ON CONFLICT (meter, ts) DO NOTHING",
                rows,
            )
            return self._db.total_changes - before

    def pending(
        self,
        limit: int,
        oldest_first: bool = True,
        after: tuple[int, int] | None = None,
        due_at: float | None = None,
    ) -> list[PendingRow]:
        """Up to `limit` stored readings in (ts, id) order, starting after the (ts, id) `after`;
        with `due_at`, only those never sent or whose resend time has come by then."""
        order = "ASC" if oldest_first else "DESC"
        where: list[str] = []
        args: list[float] = []
        if after is not None:
            where.append(f"(ts, id) {'>' if oldest_first else '<'} (?, ?)")
            args.extend(after)
        if due_at is not None:
            where.append("(resend_at IS NULL OR resend_at <= ?)")
            args.append(due_at)
        condition = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._db.execute(
            f"SELECT id, meter, ts, body FROM readings {condition}"
            f"ORDER BY ts {order}, id {order} LIMIT ?",
            (*args, limit),
        )
        return [PendingRow(*row) for row in rows]

    def mark_published(self, ids: Sequence[int], now: float, receipt_timeout_s: float) -> None:
        """The broker acknowledged these rows: they wait for their receipt until a resend time
        (the timeout, doubled with each send up to MAX_RESEND_FACTOR x).

        Not fsynced: undone by a power cut, a row is only sent again sooner (and stored once).
        """
        with self._transaction(durable=False):
            for start in range(0, len(ids), DELETE_CHUNK):
                chunk = ids[start : start + DELETE_CHUNK]
                marks = ",".join("?" * len(chunk))
                self._db.execute(
                    "UPDATE readings SET sent_at = COALESCE(sent_at, ?), sends = sends + 1, "
                    f"resend_at = ? + ? * MIN(1 << MIN(sends, 30), {MAX_RESEND_FACTOR}) "
                    f"WHERE id IN ({marks})",
                    (now, now, receipt_timeout_s, *chunk),
                )

    def delete_runs(
        self, runs_by_meter: Iterable[tuple[str, Iterable[tuple[int, int, int]]]]
    ) -> int:
        """Delete the readings a receipt names, as (meter, [(first_ts, last_ts, step_s)]);
        how many were still there.

        Not fsynced (the next durable commit takes it to disk): a delete undone by a power cut
        only makes the agent send the reading again, and the bridge stores it once.
        """
        deleted = 0
        with self._transaction(durable=False):
            for meter, runs in runs_by_meter:
                for first, last, step in runs:
                    if step == 0:
                        cursor = self._db.execute(
                            "DELETE FROM readings WHERE meter = ? AND ts = ?", (meter, first)
                        )
                    else:
                        cursor = self._db.execute(
                            "DELETE FROM readings WHERE meter = ? AND ts BETWEEN ? AND ? "
                            "AND (ts - ?) % ? = 0",
                            (meter, first, last, first, step),
                        )
                    deleted += cursor.rowcount
        return deleted

    def awaiting_receipt(self) -> tuple[int, float | None, float | None]:
        """Rows acknowledged by the broker and waiting for their receipt: how many, the first
        PUBACK time of the oldest, and the next resend time."""
        count, first_sent, next_resend = self._db.execute(
            "SELECT COUNT(*), MIN(sent_at), MIN(resend_at) FROM readings "
            "WHERE resend_at IS NOT NULL"
        ).fetchone()
        return int(count), first_sent, next_resend

    def next_resend_at(self) -> float | None:
        """When the first row without its receipt is due again (an index lookup), None if none."""
        row = self._db.execute(
            "SELECT MIN(resend_at) FROM readings WHERE resend_at IS NOT NULL"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def overdue(self, now: float) -> int:
        """Rows whose receipt did not come by their resend time."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM readings WHERE resend_at IS NOT NULL AND resend_at <= ?", (now,)
        ).fetchone()
        return int(row[0])

    def count_rejected(self, count: int) -> int:
        """Add readings a receipt says were rejected to the total kept across restarts."""
        if count:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO counters (name, value) VALUES ('rejected', ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                    (count,),
                )
        return self._counter("rejected")

    def rejected_total(self) -> int:
        """Readings ever named rejected by a receipt."""
        return self._counter("rejected")

    def mark_sent(self, ids: Sequence[int]) -> int:
        """Delete readings delivered (`delivery: broker`: the broker acknowledged them)."""
        deleted = 0
        with self._transaction():
            for start in range(0, len(ids), DELETE_CHUNK):
                chunk = ids[start : start + DELETE_CHUNK]
                marks = ",".join("?" * len(chunk))
                deleted += self._db.execute(
                    f"DELETE FROM readings WHERE id IN ({marks})", chunk
                ).rowcount
        return deleted

    def states(self) -> dict[str, MeterState]:
        """Each meter's baseline, as last committed."""
        rows = self._db.execute(
            "SELECT meter, ts, energy_total_kwh, reactive_total_kvarh, seq FROM meter_state"
        )
        return {row[0]: MeterState(*row) for row in rows}

    def stats(self) -> StoreStats:
        """Backlog size, oldest pending reading, disk use."""
        pending, oldest = self._db.execute("SELECT COUNT(*), MIN(ts) FROM readings").fetchone()
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        wal = self.path.with_name(self.path.name + "-wal")
        file_bytes = self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        return StoreStats(
            pending=pending,
            oldest_ts=oldest,
            used_bytes=(pages - free) * page_size,
            file_bytes=file_bytes,
            dropped_total=self._counter("dropped"),
        )

    def drop_oldest(self, count: int) -> Dropped:
        """Remove the `count` oldest readings (disk cap policy drop_oldest) and count them."""
        return self._drop("SELECT id FROM readings ORDER BY ts, id LIMIT ?", (count,))

    def drop_older_than(self, ts: int) -> Dropped:
        """Remove readings with a timestamp before `ts` (the age cap) and count them."""
        return self._drop("SELECT id FROM readings WHERE ts < ?", (ts,))

    def _drop(self, select: str, args: tuple[int, ...]) -> Dropped:
        with self._transaction():
            first, last, count = self._db.execute(
                f"SELECT MIN(ts), MAX(ts), COUNT(*) FROM readings WHERE id IN ({select})", args
            ).fetchone()
            if not count:
                return Dropped(0)
            self._db.execute(f"DELETE FROM readings WHERE id IN ({select})", args)
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES ('dropped', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (count,),
            )
        return Dropped(count, first, last)

    def reclaim(self, max_free_fraction: float = 0.25) -> int:
        """Give free pages back to the file system when more than that fraction is free."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        if pages and free / pages > max_free_fraction:
            # executescript steps the pragma to completion; execute() would free one page only.
            self._db.executescript("PRAGMA incremental_vacuum;")
            return int(free)
        return 0

    def integrity_check(self) -> str:
        """SQLite's own check: 'ok' or the problems it found."""
        return "\n".join(row[0] for row in self._db.execute("PRAGMA integrity_check"))

    def close(self) -> None:
        self._db.close()

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    def _transaction(self, durable: bool = True) -> _Transaction:
        return _Transaction(self._db, durable)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, db: sqlite3.Connection, durable: bool = True) -> None:
        self._db = db
        self._durable = durable

    def __enter__(self) -> None:
        if not self._durable:
            self._db.execute("PRAGMA synchronous = NORMAL")  # this commit is not fsynced
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, err: object, tb: object) -> None:
        try:
            self._db.execute("ROLLBACK" if kind is not None else "COMMIT")
        finally:
            if not self._durable:
                self._db.execute("PRAGMA synchronous = FULL")
