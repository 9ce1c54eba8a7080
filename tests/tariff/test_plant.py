"""Costs worked out by hand from the sample tariffs' round rates (see samples.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from kilowatch.tariff import Cost, PlantTariff, Rate, TariffError

from .samples import NIGHT_DAY, NIGHT_DAY_0130, TOU, TOU_RULES, local, tariff, utc

MEXICO = "America/Mexico_City"  # UTC-6 all year since 2022
IVA = 1.16


@pytest.fixture
def plant() -> PlantTariff:
    return PlantTariff(tariff(TOU), MEXICO)


def test_reading_straddling_the_start_of_peak(plant: PlantTariff) -> None:
    # Wednesday 15 July 2026, summer: 19:50-20:00 intermediate (2.0), 20:00-20:05 peak (4.0).
    end = local(MEXICO, 2026, 7, 15, 20, 5)
    cost = plant.cost(end, 900, 3.0)
    rate = (600 * 2.0 + 300 * 4.0) / 900 * IVA  # 3.0933...
    assert cost.rate == pytest.approx(rate)
    assert cost.cost == pytest.approx(3.0 * rate)  # 9.28
    assert cost.period == "intermediate"  # 10 of the 15 minutes


def test_reading_inside_one_period_uses_its_rate_exactly(plant: PlantTariff) -> None:
    cost = plant.cost(local(MEXICO, 2026, 7, 15, 21, 0), 300, 2.0)
    assert cost == Cost(cost=2.0 * 4.0 * IVA, rate=4.0 * IVA, period="peak")


def test_rate_at_is_the_pre_tax_published_rate(plant: PlantTariff) -> None:
    assert plant.rate_at(local(MEXICO, 2026, 7, 15, 20, 0)) == Rate("peak", 4.0)
    assert plant.rate_at(local(MEXICO, 2026, 7, 15, 20, 0) - 1) == Rate("intermediate", 2.0)
    aware = datetime(2026, 1, 10, 7, 59, tzinfo=ZoneInfo(MEXICO))  # winter Saturday
    assert plant.rate_at(aware) == Rate("base", 0.5)


def test_next_change(plant: PlantTariff) -> None:
    at = local(MEXICO, 2026, 7, 15, 12, 0)
    assert plant.next_change(at) == (local(MEXICO, 2026, 7, 15, 20, 0), Rate("peak", 4.0))
    last_of_year = local(MEXICO, 2026, 12, 31, 23, 0)  # Thursday, intermediate until midnight
    assert plant.next_change(last_of_year) == (local(MEXICO, 2027, 1, 1, 0, 0), Rate("base", 0.5))


def test_public_holiday_uses_the_sunday_schedule(plant: PlantTariff) -> None:
    # Wednesday 16 September 2026, Independence Day: summer Sunday, 19:00-24:00 intermediate.
    cost = plant.cost(local(MEXICO, 2026, 9, 16, 20, 30), 900, 1.0)
    assert (cost.period, cost.rate) == ("intermediate", pytest.approx(2.0 * IVA))
    # The day before is a working Tuesday: peak.
    assert plant.rate_at(local(MEXICO, 2026, 9, 15, 20, 15)) == Rate("peak", 4.0)


def test_extra_holiday_date(plant: PlantTariff) -> None:
    # Thursday 24 December 2026 is listed in extra_dates: winter Sunday, all base.
    assert plant.rate_at(local(MEXICO, 2026, 12, 24, 19, 0)) == Rate("base", 0.5)
    assert plant.rate_at(local(MEXICO, 2026, 12, 23, 19, 0)) == Rate("peak", 3.0)


def test_season_boundary(plant: PlantTariff) -> None:
    # Saturday 31 Oct 23:00-24:00 summer intermediate (2.0); Sunday 1 Nov 00:00-01:00 winter base
    # (0.5). Equal shares: the earliest period wins.
    cost = plant.cost(local(MEXICO, 2026, 11, 1, 1, 0), 7200, 2.0)
    assert cost.rate == pytest.approx((2.0 + 0.5) / 2 * IVA)
    assert cost.cost == pytest.approx(2.0 * 1.25 * IVA)  # 2.9
    assert cost.period == "intermediate"


def test_year_boundary(plant: PlantTariff) -> None:
    # Thursday 31 Dec 2026 23:15-24:00 winter intermediate (1.5); Friday 1 Jan 2027 is New Year's
    # Day, so 00:00-00:30 is holiday base (0.5).
    cost = plant.cost(local(MEXICO, 2027, 1, 1, 0, 30), 4500, 5.0)
    rate = (45 * 1.5 + 30 * 0.5) / 75 * IVA  # 1.1 before tax
    assert cost == Cost(pytest.approx(5.0 * rate), pytest.approx(rate), "intermediate")  # type: ignore[arg-type]


def test_a_batch_spanning_years(plant: PlantTariff) -> None:
    ends = np.array(
        [
            local(MEXICO, 2025, 7, 15, 21, 0),
            local(MEXICO, 2027, 1, 1, 0, 30),
            local(MEXICO, 2028, 7, 12, 21, 0),
        ]
    )
    batch = plant.cost_many(ends, np.array([300, 4500, 300]), np.array([1.0, 5.0, 1.0]))
    assert batch.period.tolist() == ["peak", "intermediate", "peak"]
    assert batch.rate.tolist() == pytest.approx([4.0 * IVA, 1.1 * IVA, 4.0 * IVA])


def test_weekday_rule_seasons_on_a_spring_forward_day() -> None:
    # America/Chihuahua kept Mexico's clock changes until 2022. Sunday 4 April 2021 was the first
    # Sunday of April: first day of summer and 02:00 -> 03:00, a 23-hour day: base 00:00-19:00
    # (18 real hours), intermediate 19:00-24:00 (5 hours).
    plant = PlantTariff(tariff(TOU_RULES), "America/Chihuahua")
    start, end = local("America/Chihuahua", 2021, 4, 4), local("America/Chihuahua", 2021, 4, 5)
    assert end - start == 23 * 3600
    cost = plant.cost(end, end - start, 23.0)  # 1 kWh each hour
    assert cost.cost == pytest.approx((18 * 1.0 + 5 * 2.0) * IVA)  # 32.48
    assert cost.period == "base"
    # Saturday 3 April was still winter: 23:00-24:00 intermediate (1.5), then summer base (1.0).
    crossing = plant.cost(local("America/Chihuahua", 2021, 4, 4, 1, 0), 7200, 4.0)
    assert crossing.cost == pytest.approx(4.0 * (1.5 + 1.0) / 2 * IVA)  # 5.8


class TestSpringForwardMadrid:
    """Sunday 29 March 2026: 02:00 CET -> 03:00 CEST at 01:00 UTC; the 02:30 change never shows."""

    zone = "Europe/Madrid"

    def test_the_day_has_23_hours_2_of_night(self) -> None:
        plant = PlantTariff(tariff(NIGHT_DAY), self.zone)
        start, end = utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)  # local midnights
        cost = plant.cost(end, end - start, 23.0)
        assert cost.cost == pytest.approx(2 * 1.0 + 21 * 2.0)  # 44
        assert cost.period == "day"

    def test_interval_across_the_gap(self) -> None:
        plant = PlantTariff(tariff(NIGHT_DAY), self.zone)
        # 00:30-01:30 UTC is 01:30 CET to 03:30 CEST: half night, half day.
        cost = plant.cost(utc(2026, 3, 29, 1, 30), 3600, 10.0)
        assert cost == Cost(15.0, 1.5, "night")

    def test_the_change_happens_at_the_jump(self) -> None:
        plant = PlantTariff(tariff(NIGHT_DAY), self.zone)
        jump = utc(2026, 3, 29, 1)
        assert plant.rate_at(jump - 1) == Rate("night", 1.0)
        assert plant.rate_at(jump) == Rate("day", 2.0)
        assert plant.next_change(utc(2026, 3, 29, 0)) == (jump, Rate("day", 2.0))


class TestFallBackMadrid:
    """Sunday 25 October 2026: 03:00 CEST -> 02:00 CET at 01:00 UTC; 02:00-03:00 happens twice."""

    zone = "Europe/Madrid"

    def test_the_day_has_25_hours_3_of_night(self) -> None:
        plant = PlantTariff(tariff(NIGHT_DAY), self.zone)
        start, end = utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)
        # night 00:00-02:30 CEST (2.5 h) and again 02:00-02:30 CET (0.5 h); day the other 22 h.
        assert plant.cost(end, end - start, 25.0).cost == pytest.approx(3 * 1.0 + 22 * 2.0)  # 47

    def test_the_repeated_hour_repeats_its_periods(self) -> None:
        plant = PlantTariff(tariff(NIGHT_DAY), self.zone)
        changes = []
        at = utc(2026, 10, 25, 0)
        for _ in range(3):
            found = plant.next_change(at)
            assert found is not None
            at = found[0]
            changes.append(found)
        assert changes == [
            (utc(2026, 10, 25, 0, 30), Rate("day", 2.0)),  # 02:30 CEST
            (utc(2026, 10, 25, 1, 0), Rate("night", 1.0)),  # back to 02:00 CET
            (utc(2026, 10, 25, 1, 30), Rate("day", 2.0)),  # 02:30 CET
        ]

    def test_interval_across_the_overlap(self) -> None:
        plant = PlantTariff(tariff(NIGHT_DAY), self.zone)
        # 00:00-02:00 UTC: night 30 min, day 30 min, night 30 min, day 30 min: a tie.
        assert plant.cost(utc(2026, 10, 25, 2), 7200, 4.0) == Cost(6.0, 1.5, "night")


class TestNewYork:
    zone = "America/New_York"

    def test_fall_back_with_the_change_after_the_repeated_hour(self) -> None:
        # Sunday 1 November 2026: 02:00 EDT -> 01:00 EST at 06:00 UTC. 02:30 comes once (07:30
        # UTC): night 04:00-07:30 UTC (3.5 h), day 07:30 UTC to midnight EST (21.5 h).
        plant = PlantTariff(tariff(NIGHT_DAY), self.zone)
        start, end = utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)
        assert end - start == 25 * 3600
        assert plant.cost(end, end - start, 25.0).cost == pytest.approx(3.5 * 1.0 + 21.5 * 2.0)

    def test_fall_back_with_the_change_inside_the_repeated_hour(self) -> None:
        # The 01:30 change comes twice: 05:30 UTC (EDT) and 06:30 UTC (EST).
        plant = PlantTariff(tariff(NIGHT_DAY_0130), self.zone)
        assert plant.rate_at(local(self.zone, 2026, 11, 1, 1, 15, fold=0)) == Rate("night", 1.0)
        assert plant.rate_at(local(self.zone, 2026, 11, 1, 1, 45, fold=0)) == Rate("day", 2.0)
        assert plant.rate_at(local(self.zone, 2026, 11, 1, 1, 15, fold=1)) == Rate("night", 1.0)
        assert plant.rate_at(local(self.zone, 2026, 11, 1, 1, 45, fold=1)) == Rate("day", 2.0)
        # 05:00-07:00 UTC: night, day, night, day, 30 minutes each.
        assert plant.cost(utc(2026, 11, 1, 7), 7200, 2.0) == Cost(3.0, 1.5, "night")

    def test_spring_forward(self) -> None:
        # Sunday 8 March 2026: 02:00 EST -> 03:00 EDT at 07:00 UTC; night 05:00-07:00 UTC only.
        plant = PlantTariff(tariff(NIGHT_DAY), self.zone)
        start, end = utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)
        assert plant.cost(end, end - start, 23.0).cost == pytest.approx(2 * 1.0 + 21 * 2.0)


def test_midnight_that_does_not_exist() -> None:
    # Chile moves 00:00 -> 01:00 on Sunday 6 September 2026 (04:00 UTC). In the sample (summer
    # April to October) Saturday is intermediate until its missing midnight, Sunday base from 01:00.
    plant = PlantTariff(tariff(TOU), "America/Santiago")
    jump = utc(2026, 9, 6, 4)
    assert plant.rate_at(jump - 1) == Rate("intermediate", 2.0)
    assert plant.rate_at(jump) == Rate("base", 1.0)
    assert plant.next_change(jump - 3600) == (jump, Rate("base", 1.0))


def test_cost_many_matches_cost(plant: PlantTariff) -> None:
    ends = np.array([local(MEXICO, 2026, 7, 15, 20, 5), local(MEXICO, 2026, 11, 1, 1, 0)])
    batch = plant.cost_many(ends, np.array([900, 7200]), np.array([3.0, 2.0]))
    for i in range(2):
        single = plant.cost(int(ends[i]), [900, 7200][i], [3.0, 2.0][i])
        assert (single.cost, single.rate, single.period) == (
            batch.cost[i],
            batch.rate[i],
            batch.period[i],
        )


def test_empty_batch(plant: PlantTariff) -> None:
    batch = plant.cost_many(
        np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([])
    )
    assert len(batch.cost) == len(batch.rate) == len(batch.period) == 0


def test_bad_calls(plant: PlantTariff) -> None:
    with pytest.raises(TariffError, match="interval_s must be >= 1"):
        plant.cost(utc(2026, 1, 1), 0, 1.0)
    with pytest.raises(TariffError, match="one length"):
        plant.cost_many(np.array([1, 2]), np.array([300]), np.array([1.0, 1.0]))
    with pytest.raises(TariffError, match="whole seconds"):
        plant.cost_many(np.array([1.5]), np.array([300]), np.array([1.0]))
    with pytest.raises(TariffError, match="has no timezone"):
        plant.rate_at(datetime(2026, 1, 1))
    with pytest.raises(TariffError, match="not an IANA timezone"):
        PlantTariff(tariff(TOU), "Mexico/Nowhere")


def test_flat_tariff_never_changes() -> None:
    flat = NIGHT_DAY.replace(
        'everyday: [["00:00", "02:30", night], ["02:30", "24:00", day]]',
        'everyday: [["00:00", "24:00", day]]',
    ).replace("night: 1.0, ", "")
    plant = PlantTariff(tariff(flat), "Europe/Madrid")
    assert plant.next_change(utc(2026, 12, 31, 23)) is None
    assert plant.cost(utc(2027, 1, 1, 0, 5), 3600, 2.0) == Cost(4.0, 2.0, "day")
