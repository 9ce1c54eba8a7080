"""The billing part of a tariff file (`billing:`): tiers, demand, fixed, power factor, surcharges.

Plain validated data; the arithmetic lives in kilowatch/billing. See kilowatch/billing/README.md.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Component = Literal["energy", "demand", "fixed", "power_factor"]
COMPONENTS: tuple[Component, ...] = ("energy", "demand", "fixed", "power_factor")
SECONDS_PER_MINUTE = 60


def _number(value: Any) -> Any:
    """Refuse booleans and text where a number belongs (pydantic would turn true into 1.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


Number = Annotated[float, BeforeValidator(_number)]
Money = Annotated[float, BeforeValidator(_number), Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Tier(_Strict):
    """Energy above the previous tier's limit and up to `up_to_kwh` (null: no limit)."""

    up_to_kwh: Annotated[float, Field(gt=0)] | None = None
    rates: dict[str, Money] = Field(
        default_factory=dict,
        description="pre-tax rate per period in this tier; periods left out keep the schedule rate",
    )


class EnergyTiers(_Strict):
    """Block rates on the billing period's kWh: in total (shared out pro rata) or per period."""

    counted: Literal["total", "per_period"] = "total"
    tiers: tuple[Tier, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _ordered(self) -> EnergyTiers:
        limits = [tier.up_to_kwh for tier in self.tiers]
        if any(limit is None for limit in limits[:-1]) or limits[-1] is not None:
            raise ValueError("every tier but the last needs up_to_kwh; the last has none")
        inner = [float(limit) for limit in limits[:-1] if limit is not None]
        if any(b <= a for a, b in itertools.pairwise(inner)):
            raise ValueError(f"up_to_kwh must grow from tier to tier, got {inner}")
        if self.tiers[0].rates:
            raise ValueError(
                "the first tier takes the schedule's rates: leave its rates out and give the "
                "periods' rates under rates/seasons"
            )
        return self


class Ratchet(_Strict):
    """Billed demand is at least `percent` % of the highest demand of the previous `months`."""

    percent: Annotated[float, BeforeValidator(_number), Field(gt=0, le=100)]
    months: Annotated[int, Field(ge=1, le=36)]


class DemandCharge(_Strict):
    """A charge per kW on the billing period's highest window demand (in some periods/months)."""

    name: Annotated[str, Field(min_length=1)]
    per_kw: Money
    periods: tuple[str, ...] | None = Field(
        default=None, description="only windows in these TOU periods; null: every window"
    )
    months: tuple[Annotated[int, Field(ge=1, le=12)], ...] | None = Field(
        default=None, description="billing periods starting in these months only; null: all"
    )
    ratchet: Ratchet | None = None
    load_factor_cap: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description="CFE: bill min(peak, kWh / (24 x days x load_factor_cap)) kW",
    )


class Demand(_Strict):
    """Demand = mean kW over a window; fixed windows or sliding in steps of `step_minutes`."""

    window_minutes: Annotated[int, Field(ge=1, le=60)] = 15
    window: Literal["fixed", "sliding"] = "fixed"
    step_minutes: Annotated[int, Field(ge=1, le=60)] | None = None
    charges: tuple[DemandCharge, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _step(self) -> Demand:
        step = self.step_minutes
        if self.window == "fixed" and step is not None and step != self.window_minutes:
            raise ValueError("step_minutes is for sliding windows; leave it out with fixed")
        if self.window == "sliding":
            if step is None:
                raise ValueError("sliding windows need step_minutes (for example 5)")
            if self.window_minutes % step:
                raise ValueError(
                    f"window_minutes ({self.window_minutes}) must be a multiple of "
                    f"step_minutes ({step})"
                )
        return self

    @property
    def window_s(self) -> int:
        return self.window_minutes * SECONDS_PER_MINUTE

    @property
    def step_s(self) -> int:
        """Seconds between window starts (the bucket size energy is summed in)."""
        return (self.step_minutes or self.window_minutes) * SECONDS_PER_MINUTE


class FixedCharge(_Strict):
    """A charge per billing period or per day of it."""

    name: Annotated[str, Field(min_length=1)]
    per_period: Money | None = None
    per_day: Money | None = None

    @model_validator(mode="after")
    def _one(self) -> FixedCharge:
        if (self.per_period is None) == (self.per_day is None):
            raise ValueError(f"fixed charge {self.name!r}: give exactly one of per_period, per_day")
        return self


class PowerFactorRule(_Strict):
    """Percent = factor x (threshold / pf - 1) x 100 below (penalty) or x (1 - threshold / pf)."""

    threshold: Annotated[float, BeforeValidator(_number), Field(gt=0, le=1)]
    factor: Annotated[float, BeforeValidator(_number), Field(gt=0)]
    max_percent: Annotated[float, BeforeValidator(_number), Field(gt=0)]


class PowerFactor(_Strict):
    """Penalty/bonus as a percentage of chosen components (CFE), or a charge per excess kvarh."""

    penalty: PowerFactorRule | None = None
    bonus: PowerFactorRule | None = None
    applies_to: tuple[Component, ...] = ("energy", "demand", "fixed")
    per_excess_kvarh: Money | None = None
    free_kvarh_per_kwh: Annotated[float, BeforeValidator(_number), Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> PowerFactor:
        formula = self.penalty is not None or self.bonus is not None
        per_kvarh = self.per_excess_kvarh is not None
        if formula == per_kvarh:
            raise ValueError(
                "give penalty and/or bonus (percentages), or per_excess_kvarh, not both or neither"
            )
        if per_kvarh and self.free_kvarh_per_kwh is None:
            raise ValueError(
                "per_excess_kvarh needs free_kvarh_per_kwh (0.4843 allows a power factor of 0.90)"
            )
        if "power_factor" in self.applies_to:
            raise ValueError("applies_to: power_factor cannot apply to itself")
        return self


class Surcharge(_Strict):
    """A percentage added on chosen components before tax (taxed with them)."""

    name: Annotated[str, Field(min_length=1)]
    percent: Annotated[float, BeforeValidator(_number), Field(ge=0, le=100)]
    applies_to: tuple[Component, ...] = Field(min_length=1)


class Tax(_Strict):
    """A percentage of chosen components' pre-tax amounts, added last (not taxed itself)."""

    name: Annotated[str, Field(min_length=1)]
    percent: Annotated[float, BeforeValidator(_number), Field(ge=0, le=100)]
    applies_to: tuple[Component, ...] = Field(min_length=1)


class Billing(_Strict):
    """Everything billed per billing period rather than per reading; all optional."""

    read_day: Annotated[int, Field(ge=1, le=28)] = Field(
        default=1, description="billing periods start at 00:00 local on this day of the month"
    )
    energy_tiers: EnergyTiers | None = None
    demand: Demand | None = None
    fixed: tuple[FixedCharge, ...] = ()
    minimum_bill: Money | None = Field(default=None, description="pre-tax minimum of the bill")
    power_factor: PowerFactor | None = None
    surcharges: tuple[Surcharge, ...] = ()
    taxes: tuple[Tax, ...] = Field(
        default=(), description="taxes on chosen components, besides tax_percent on everything"
    )

    def periods_named(self) -> dict[str, tuple[str, ...]]:
        """Where each TOU period name is used, for the check that the tariff has it."""
        found: dict[str, tuple[str, ...]] = {}
        if self.energy_tiers is not None:
            for index, tier in enumerate(self.energy_tiers.tiers):
                found[f"energy_tiers.tiers[{index}].rates"] = tuple(tier.rates)
        if self.demand is not None:
            for index, charge in enumerate(self.demand.charges):
                found[f"demand.charges[{index}].periods"] = charge.periods or ()
        return found

    @property
    def energy_surcharge_percent(self) -> float:
        """Sum of the surcharges on energy (they go into every reading's rate)."""
        return sum(s.percent for s in self.surcharges if "energy" in s.applies_to)

    @property
    def energy_tax_percent(self) -> float:
        """Sum of the `taxes` on energy (they go into every reading's rate)."""
        return sum(t.percent for t in self.taxes if "energy" in t.applies_to)
