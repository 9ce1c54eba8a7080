"""Meter profiles: kinds read from ids, sizes stable per id, impossible profiles refused."""

from __future__ import annotations

import pytest

from kilowatch.metermodel.profiles import METER_KINDS, MeterProfile, default_profile, infer_kind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("press-2", "press"),
        ("Compressor 1", "compressor"),  # not a press, although it contains the word
        ("main-air", "compressor"),
        ("chiller_3", "hvac"),
        ("LightingHall", "lighting"),
        ("oven.1", "furnace"),
        ("weld-cell-4", "assembly"),
        ("repair-shop", None),  # 'repair' is not 'air'
        ("m17", None),
    ],
)
def test_kind_is_read_from_whole_words(text: str, kind: str | None) -> None:
    assert infer_kind(text) == kind


def test_later_hints_count_when_the_id_says_nothing() -> None:
    assert infer_kind("m17", "", "press-line") == "press"


def test_default_profile_is_stable_per_id_and_varies_between_ids() -> None:
    assert default_profile("m17") == default_profile("m17")
    peaks = {default_profile(f"press-{i}").peak_kw for i in range(20)}
    assert len(peaks) > 10
    assert {default_profile(f"m{i}").kind for i in range(200)} == set(METER_KINDS)


@pytest.mark.parametrize("kind", METER_KINDS)
def test_every_kind_has_a_consistent_default(kind: str) -> None:
    profile = default_profile("m1", kind)  # type: ignore[arg-type]
    assert profile.kind == kind
    assert 0 < profile.base_kw < profile.peak_kw
    assert profile.machine_kw == pytest.approx(profile.peak_kw - profile.base_kw)
    # The base is compensated worse than the machines: what makes power factor fall when idle.
    assert profile.base_power_factor < profile.machine_power_factor


def test_an_impossible_profile_lists_every_problem() -> None:
    with pytest.raises(ValueError) as raised:
        MeterProfile("press", base_kw=50, peak_kw=40, cycle_s=30, duty_full=1.2, noise=0.5)
    message = str(raised.value)
    for part in ("base_kw < peak_kw", "cycle_s", "duty_full", "noise"):
        assert part in message
