"""The billing section of a tariff file: what is refused, and its effect on per-reading costs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import yaml

from kilowatch.tariff import PlantTariff, TariffError, parse_tariff
from tests.billing.samples import TOU

from .samples import utc


def with_billing(**billing: Any) -> dict[str, Any]:
    return yaml.safe_load(yaml.safe_dump({**TOU, "billing": billing}))


@pytest.mark.parametrize(
    ("billing", "message"),
    [
        (
            {"demand": {"charges": [{"name": "d", "per_kw": 1, "periods": ["punta"]}]}},
            "billing.demand.charges[0].periods: period 'punta' is in no schedule",
        ),
        (
            {"energy_tiers": {"tiers": [{"up_to_kwh": 10}, {"up_to_kwh": 5}]}},
            "every tier but the last needs up_to_kwh",
        ),
        (
            {"energy_tiers": {"tiers": [{"up_to_kwh": 10}, {"up_to_kwh": 5}, {}]}},
            "up_to_kwh must grow",
        ),
        (
            {"energy_tiers": {"tiers": [{"up_to_kwh": 10, "rates": {"peak": 1}}, {}]}},
            "the first tier takes the schedule's rates",
        ),
        (
            {"demand": {"window": "sliding", "charges": [{"name": "d", "per_kw": 1}]}},
            "sliding windows need step_minutes",
        ),
        (
            {
                "demand": {
                    "window": "sliding",
                    "window_minutes": 15,
                    "step_minutes": 4,
                    "charges": [{"name": "d", "per_kw": 1}],
                }
            },
            "multiple of step_minutes",
        ),
        ({"fixed": [{"name": "f", "per_period": 1, "per_day": 1}]}, "exactly one of"),
        ({"power_factor": {"per_excess_kvarh": 0.1}}, "free_kvarh_per_kwh"),
        ({"power_factor": {}}, "give penalty and/or bonus"),
        ({"surcharges": [{"name": "s", "percent": 5, "on": ["energy"]}]}, "unknown key"),
        ({"read_day": 31}, "less than or equal to 28"),
    ],
)
def test_bad_billing_sections_are_refused(billing: dict[str, Any], message: str) -> None:
    with pytest.raises(TariffError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_tariff(with_billing(**billing))


def test_surcharge_on_energy_is_in_every_reading_rate() -> None:
    plain = PlantTariff(parse_tariff(with_billing()), "UTC")
    taxed = PlantTariff(
        parse_tariff(
            with_billing(
                surcharges=[
                    {"name": "s", "percent": 10, "applies_to": ["energy"]},
                    {"name": "d", "percent": 50, "applies_to": ["demand"]},
                ]
            )
        ),
        "UTC",
    )
    ts = utc(2026, 10, 5, 12)
    assert taxed.cost(ts, 900, 2.0).cost == pytest.approx(plain.cost(ts, 900, 2.0).cost * 1.1)


def test_split_many_by_hand() -> None:
    plant = PlantTariff(parse_tariff(with_billing()), "UTC")
    # 17:30-18:30: half off-peak (0.10), half peak (0.30); 10:00-10:15: all off-peak
    split = plant.split_many(
        np.array([utc(2026, 10, 5, 18, 30), utc(2026, 10, 5, 10, 15)]), np.array([3600, 900])
    )
    assert plant.periods == ("off_peak", "peak")
    assert split.share.tolist() == [[0.5, 0.5], [1.0, 0.0]]
    assert split.pretax_per_kwh == pytest.approx(np.array([[0.05, 0.15], [0.10, 0.0]]))
    costs = plant.cost_many(np.array([utc(2026, 10, 5, 18, 30)]), np.array([3600]), np.array([4.0]))
    assert costs.cost[0] == pytest.approx(4.0 * split.pretax_per_kwh[0].sum())
