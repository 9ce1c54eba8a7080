"""The disk cap: pause (no energy lost) or drop the oldest; expire by age; always loud."""

from __future__ import annotations

from kilowatch.agent.capacity import DiskCap, assess
from kilowatch.agent.store import StoreStats

MB = 1_000_000
NOW = 2_000_000_000


def stats(used: int, pending: int = 1000, oldest: int | None = NOW - 3600) -> StoreStats:
    return StoreStats(
        pending=pending, oldest_ts=oldest, used_bytes=used, file_bytes=used, dropped_total=0
    )


def test_below_the_cap_nothing_happens() -> None:
    action = assess(stats(5 * MB), DiskCap(10 * MB, None, "pause"), NOW, paused=False)
    assert (action.paused, action.full, action.drop_count, action.expire_before_ts) == (
        False,
        False,
        0,
        None,
    )


def test_pause_starts_at_the_cap_and_ends_below_the_resume_level() -> None:
    cap = DiskCap(10 * MB, None, "pause", resume_fraction=0.9)
    assert assess(stats(10 * MB), cap, NOW, paused=False).paused
    assert assess(stats(int(9.5 * MB)), cap, NOW, paused=True).paused  # hysteresis
    assert not assess(stats(int(8.9 * MB)), cap, NOW, paused=True).paused
    assert not assess(stats(int(9.5 * MB)), cap, NOW, paused=False).paused


def test_drop_oldest_drops_down_to_the_resume_level() -> None:
    cap = DiskCap(10 * MB, None, "drop_oldest", resume_fraction=0.9)
    action = assess(stats(12 * MB, pending=1200), cap, NOW, paused=False)
    assert action.full and not action.paused
    assert action.drop_count == 300  # 1200 rows x (1 - 9/12)


def test_old_readings_expire_whatever_the_size() -> None:
    cap = DiskCap(None, 86400, "pause")
    assert (
        assess(stats(MB, oldest=NOW - 90_000), cap, NOW, paused=False).expire_before_ts
        == NOW - 86400
    )
    assert assess(stats(MB, oldest=NOW - 80_000), cap, NOW, paused=False).expire_before_ts is None
    assert (
        assess(stats(MB, pending=0, oldest=None), cap, NOW, paused=False).expire_before_ts is None
    )
