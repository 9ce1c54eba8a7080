from __future__ import annotations

from zoneinfo import ZoneInfo

from kilowatch.tariff.zones import offset_at, offsets

from .samples import utc


def test_madrid_2026_changes_at_1_utc_in_march_and_october() -> None:
    froms, offs = offsets(ZoneInfo("Europe/Madrid"), utc(2026, 1, 1), utc(2027, 1, 1))
    assert froms.tolist() == [utc(2026, 1, 1), utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)]
    assert offs.tolist() == [3600, 7200, 3600]


def test_a_zone_without_changes_has_one_offset() -> None:
    froms, offs = offsets(ZoneInfo("America/Mexico_City"), utc(2026, 1, 1), utc(2027, 1, 1))
    assert (froms.tolist(), offs.tolist()) == ([utc(2026, 1, 1)], [-6 * 3600])


def test_offset_at() -> None:
    assert offset_at(ZoneInfo("Asia/Kolkata"), utc(2026, 6, 1)) == 5 * 3600 + 1800
