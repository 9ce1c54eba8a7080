"""The query builder: immutable, validated, resolved in the plant's local time."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from kilowatch.query import Query, QueryError
from kilowatch.query.plan import Bucket, parse_bucket
from tests.support.services import REPO_ROOT

PLANT_FILE = REPO_ROOT / "config" / "kilowatch.example.yaml"


def test_each_step_returns_a_new_query_and_leaves_the_old_one() -> None:
    base = Query.energy(plant="hmo").between("2026-10-01", "2026-11-01")
    by_line = base.by("line").every("1d").sum("cost")
    assert base.group is None and base.every_ is None and base.measure == "energy_kwh"
    assert (by_line.group, by_line.every_, by_line.measure) == ("line", "1d", "cost")
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.group = "meter"  # type: ignore[misc]


def test_the_plant_file_gives_the_zone_and_dates_are_local_midnights() -> None:
    plan = Query.energy("sea").using(PLANT_FILE).between("2026-10-01", "2026-11-02").plan()
    assert plan.timezone == "America/Los_Angeles"
    assert plan.start == pd.Timestamp("2026-10-01T07:00:00Z")  # PDT
    assert plan.end == pd.Timestamp("2026-11-02T08:00:00Z")  # PST, after the clock change


def test_cost_is_in_the_plant_tariffs_currency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KILOWATCH_CONFIG", raising=False)
    cost = Query.energy("hmo").using(PLANT_FILE).between("2026-10-01", "2026-11-01").sum("cost")
    assert cost.plan().unit == "MXN"
    assert Query.bill("sea").using(PLANT_FILE).between("2026-10-01", "2026-11-01").plan().unit == (
        "USD"
    )
    no_file = Query.energy("hmo").tz("UTC").between("2026-10-01", "2026-11-01").sum("cost")
    assert no_file.plan().unit == "currency"  # no plant file: the currency is not known


def test_an_explicit_zone_wins_and_aware_times_are_kept() -> None:
    plan = (
        Query.energy("sea")
        .tz("Europe/Madrid")
        .between("2026-10-01T06:30", pd.Timestamp("2026-10-02T00:00Z").to_pydatetime())
        .plan()
    )
    assert plan.start == pd.Timestamp("2026-10-01T04:30:00Z")
    assert plan.end == pd.Timestamp("2026-10-02T00:00:00Z")


@pytest.mark.parametrize(
    ("every", "bucket"),
    [
        ("15m", Bucket("fixed", 900)),
        ("1h", Bucket("fixed", 3600)),
        ("24h", Bucket("day")),
        ("1d", Bucket("day")),
        ("1mo", Bucket("month")),
    ],
)
def test_bucket_sizes(every: str, bucket: Bucket) -> None:
    assert parse_bucket(every) == bucket


@pytest.mark.parametrize("every", ["7m", "2d", "1w", "2mo", "fast", "0s", ""])
def test_bucket_sizes_that_do_not_tile_local_days_are_refused(every: str) -> None:
    with pytest.raises(QueryError, match="every="):
        parse_bucket(every)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Query.energy("hmo").by("shift"), "group by one of"),  # type: ignore[arg-type]
        (lambda: Query.energy("hmo").sum("rate"), "sum one of"),  # type: ignore[arg-type]
        (lambda: Query.demand("hmo").sum("cost"), "energy and top"),
        (lambda: Query.energy("hmo").where(plant="x"), "filter on line"),
        (lambda: Query.energy("hmo").where(line=[]), "at least one value"),
        (
            lambda: (
                Query.energy("hmo").tz("Mars/Olympus").between("2026-01-01", "2026-01-02").plan()
            ),
            "not an IANA time zone",
        ),
        (lambda: Query.energy("hmo").tz("UTC").plan(), "between"),
        (
            lambda: (
                Query.completeness("hmo")
                .by("line")
                .tz("UTC")
                .between("2026-01-01", "2026-01-02")
                .plan()
            ),
            "completeness is per meter",
        ),
        (
            lambda: Query.energy("hmo").tz("UTC").between("2026-02-01", "2026-01-01").plan(),
            "before it starts",
        ),
        (lambda: Query.energy("hmo").tz("UTC").between("soon", "later").plan(), "not a date"),
        (
            lambda: (
                Query.energy("nope").using(PLANT_FILE).between("2026-01-01", "2026-01-02").plan()
            ),
            "not in the plant file",
        ),
        (
            lambda: (
                Query.energy(["hmo", "sea"])
                .using(PLANT_FILE)
                .between("2026-01-01", "2026-01-02")
                .plan()
            ),
            "different time zones",
        ),
        (
            lambda: (
                Query.demand("hmo", window="1d")
                .tz("UTC")
                .between("2026-01-01", "2026-01-02")
                .plan()
            ),
            "shorter than a day",
        ),
        (
            lambda: (
                Query.bill("hmo").by("line").tz("UTC").between("2026-01-01", "2026-01-02").plan()
            ),
            "by meter only",
        ),
    ],
)
def test_mistakes_are_one_clear_sentence(make: object, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        make()  # type: ignore[operator]


def test_without_a_plant_file_the_error_says_how_to_give_the_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KILOWATCH_CONFIG", raising=False)
    with pytest.raises(QueryError, match="--tz"):
        Query.energy("hmo").between("2026-01-01", "2026-01-02").plan()


@pytest.mark.parametrize(
    ("zone", "every", "fits"),
    [
        ("Asia/Kolkata", "1h", False),
        ("Asia/Kolkata", "30m", True),
        ("Asia/Kathmandu", "30m", False),
        ("Asia/Kathmandu", "15m", True),
        ("America/St_Johns", "1h", False),
        ("America/Los_Angeles", "1h", True),
    ],
)
def test_fixed_buckets_must_line_up_with_local_time(zone: str, every: str, fits: bool) -> None:
    query = Query.energy("x").tz(zone).between("2026-10-01", "2026-12-01").every(every)
    if fits:
        assert query.plan().bucket == parse_bucket(every)
    else:
        with pytest.raises(QueryError, match="do not line up with local time"):
            query.plan()


def test_a_bill_covers_each_local_month_of_the_range() -> None:
    plan = Query.bill("sea").using(PLANT_FILE).between("2026-10-15", "2026-12-01").plan()
    assert plan.billing_periods == ("2026-10", "2026-11")
    assert plan.start == pd.Timestamp("2026-10-01T07:00:00Z")
