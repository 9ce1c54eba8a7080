"""Polls fall on multiples of the interval on the wall clock."""

from __future__ import annotations

from kilowatch.agent.schedule import next_slot, slot_at


def test_slots_are_aligned_to_the_clock() -> None:
    assert slot_at(1_796_000_123.4, 300) == 1_796_000_100
    assert next_slot(1_796_000_123.4, 300) == 1_796_000_400


def test_on_a_slot_the_next_one_is_a_whole_interval_later() -> None:
    assert slot_at(1_796_000_100.0, 300) == 1_796_000_100
    assert next_slot(1_796_000_100.0, 300) == 1_796_000_400
