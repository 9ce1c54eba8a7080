"""The SQLite outbox: atomic commits, no duplicates, oldest first, survives being killed."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from kilowatch.agent.energy import MeterState
from kilowatch.agent.store import ReadingStore, StoreError
from kilowatch.contract import Reading


def reading(meter: str, ts: int, energy: float = 1.5) -> Reading:
    return Reading("plant-a", meter, ts, energy, 300, seq=ts // 300)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReadingStore]:
    opened = ReadingStore(tmp_path / "agent.sqlite")
    yield opened
    opened.close()


def test_durable_settings(store: ReadingStore) -> None:
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_add_returns_the_rows_with_their_payload(store: ReadingStore) -> None:
    rows = store.add([reading("m1", 300), reading("m2", 300)])
    assert [(r.meter, r.ts) for r in rows] == [("m1", 300), ("m2", 300)]
    assert orjson.loads(rows[0].body) == reading("m1", 300).to_json()


def test_the_same_meter_and_ts_is_stored_once(store: ReadingStore) -> None:
    store.add([reading("m1", 300, 1.0)])
    assert store.add([reading("m1", 300, 2.0)]) == []
    assert store.add_many([reading("m1", 300), reading("m1", 600)]) == 1
    assert store.stats().pending == 2


def test_readings_and_baselines_commit_together(store: ReadingStore) -> None:
    state = MeterState("m1", 600, 1000.5, 20.0, 2)
    store.add([reading("m1", 600)], [state])
    assert store.states() == {"m1": state}
    newer = MeterState("m1", 900, 1001.0, 21.0, 3)
    store.add([reading("m1", 900)], [newer])
    assert store.states() == {"m1": newer}


def test_a_failed_transaction_leaves_nothing_behind(store: ReadingStore) -> None:
    bad = MeterState("m1", 600, None, None, 1)  # type: ignore[arg-type]  # NOT NULL violated
    with pytest.raises(sqlite3.IntegrityError):
        store.add([reading("m1", 600)], [bad])
    assert store.stats().pending == 0
    assert store.states() == {}


def test_pending_oldest_first_and_after_a_cursor(store: ReadingStore) -> None:
    store.add([reading("m1", 900), reading("m2", 300), reading("m1", 600), reading("m2", 900)])
    rows = store.pending(10)
    assert [(r.ts, r.meter) for r in rows] == [(300, "m2"), (600, "m1"), (900, "m1"), (900, "m2")]
    after = store.pending(10, after=(rows[1].ts, rows[1].id))
    assert [(r.ts, r.meter) for r in after] == [(900, "m1"), (900, "m2")]
    assert [r.ts for r in store.pending(2, oldest_first=False)] == [900, 900]


def test_mark_sent_deletes_only_those_rows(store: ReadingStore) -> None:
    rows = store.add([reading("m1", 300 * i) for i in range(1, 2001)])
    assert store.mark_sent([r.id for r in rows[:1500]]) == 1500
    assert store.mark_sent([rows[0].id]) == 0  # a second PUBACK for the same message
    assert store.stats().pending == 500
    assert store.pending(1)[0].ts == rows[1500].ts


def test_stats(store: ReadingStore) -> None:
    assert store.stats().pending == 0 and store.stats().oldest_ts is None
    store.add([reading("m1", 600), reading("m1", 300)])
    stats = store.stats()
    assert (stats.pending, stats.oldest_ts) == (2, 300)
    assert 0 < stats.used_bytes <= stats.file_bytes


def test_drops_are_counted_and_kept_across_restarts(tmp_path: Path) -> None:
    store = ReadingStore(tmp_path / "a.sqlite")
    store.add([reading("m1", 300 * i) for i in range(1, 11)])
    dropped = store.drop_oldest(3)
    assert (dropped.count, dropped.first_ts, dropped.last_ts) == (3, 300, 900)
    assert store.drop_older_than(1500).count == 1
    assert store.drop_older_than(1500).count == 0
    store.close()
    again = ReadingStore(tmp_path / "a.sqlite")
    assert again.stats().dropped_total == 4
    assert again.stats().pending == 6
    again.close()


def test_freed_pages_go_back_to_the_file_system(store: ReadingStore) -> None:
    rows = store.add_many(reading(f"m{i % 32}", 300 * i) for i in range(1, 20_001))
    assert rows == 20_000
    store.mark_sent([r.id for r in store.pending(20_000)])
    used_before = store.path.stat().st_size
    assert store.reclaim() > 0
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert store.path.stat().st_size < used_before / 2


def test_an_unusable_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StoreError, match=r"dir\.sqlite"):
        ReadingStore(tmp_path / "dir.sqlite")


WRITER = """
import sys
from kilowatch.agent.energy import MeterState
from kilowatch.agent.store import ReadingStore, StoreError
from kilowatch.contract import Reading

store = ReadingStore(sys.argv[1])
batch = int(sys.argv[2])
ts = max((s.ts for s in store.states().values()), default=0) + 300
while True:
    readings = [Reading("p", f"m{i}", ts, 1.0, 300) for i in range(batch)]
    store.add(readings, [MeterState(f"m{i}", ts, float(ts), None, ts // 300) for i in range(batch)])
    print(ts, flush=True)  # committed: this line is printed only after COMMIT returned
    ts += 300
"""


def test_the_file_survives_sigkill_in_the_middle_of_writes(tmp_path: Path) -> None:
    """Kill a writer at random moments: the file is intact and holds every committed batch whole."""
    path, batch = tmp_path / "killed.sqlite", 50
    rng = random.Random(20261129)
    committed_ts = 0
    for _ in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(batch)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # it is writing
        assert first, "the writer did not start"
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        printed = [first, *child.stdout.read().splitlines()]
        child.wait()
        committed_ts = max(committed_ts, *(int(line) for line in printed if line.strip()))
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count, max_ts = db.execute("SELECT COUNT(*), MAX(ts) FROM readings").fetchone()
        states = db.execute("SELECT COUNT(*), MIN(ts), MAX(ts) FROM meter_state").fetchone()
        db.close()
        # Every batch the writer reported is there, whole; at most the one being written when
        # it died is there too (committed before the print), never a part of one.
        assert count % batch == 0
        assert max_ts in (committed_ts, committed_ts + 300)
        assert count == batch * max_ts // 300
        # The baselines moved with the readings, in the same transaction.
        assert states == (batch, max_ts, max_ts)
        committed_ts = max_ts
    assert committed_ts > 0


def test_rows_wait_for_their_receipt_and_go_again_when_it_is_late(store: ReadingStore) -> None:
    store.add([reading("m1", 300), reading("m1", 600), reading("m2", 300)])
    ids = [row.id for row in store.pending(10)]
    store.mark_published(ids[:2], now=1000.0, receipt_timeout_s=60)
    assert store.awaiting_receipt() == (2, 1000.0, 1060.0)
    assert [r.id for r in store.pending(10, due_at=1059.0)] == ids[2:]  # not due yet
    assert [r.id for r in store.pending(10, due_at=1060.0)] == ids  # the timeout passed
    assert store.overdue(1060.0) == 2
    store.mark_published(ids[:1], now=1070.0, receipt_timeout_s=60)  # sent again: waits 2x
    assert store.awaiting_receipt() == (2, 1000.0, 1060.0)
    row = store._db.execute(
        "SELECT sent_at, resend_at, sends FROM readings WHERE id = ?", (ids[0],)
    )
    assert row.fetchone() == (1000.0, 1190.0, 2)


def test_a_receipt_deletes_exactly_the_readings_it_names(store: ReadingStore) -> None:
    store.add([reading("m1", ts) for ts in range(300, 3300, 300)] + [reading("m2", 600)])
    deleted = store.delete_runs([("m1", [(300, 1500, 600)]), ("m2", [(600, 600, 0)])])
    assert deleted == 4  # m1 at 300, 900, 1500 and m2 at 600
    assert [(r.meter, r.ts) for r in store.pending(100)] == [
        ("m1", ts) for ts in (600, 1200, 1800, 2100, 2400, 2700, 3000)
    ]
    assert store.delete_runs([("m1", [(300, 300, 0)])]) == 0  # already gone: harmless


def test_rejected_counts_are_kept_across_restarts(tmp_path: Path) -> None:
    store = ReadingStore(tmp_path / "a.sqlite")
    store.count_rejected(3)
    store.close()
    store = ReadingStore(tmp_path / "a.sqlite")
    assert store.count_rejected(2) == 5
    store.close()


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, meter TEXT NOT NULL, ts INTEGER NOT NULL,"
        " body BLOB NOT NULL, UNIQUE (meter, ts));"
        "INSERT INTO readings (meter, ts, body) VALUES ('m1', 300, '{}');"
    )
    db.close()
    store = ReadingStore(path)
    assert [r.ts for r in store.pending(10, due_at=0)] == [300]
    store.mark_published([1], now=1.0, receipt_timeout_s=5)
    assert store.awaiting_receipt()[0] == 1
    store.close()
