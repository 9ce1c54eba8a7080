"""Interval energy from a cumulative register: deltas, rollover, reset, implausible jumps, gaps.

Pure: the previous baseline and a new register value in, readings and the next baseline out.
A meter's cumulative register is the agent's safety net: energy a missed poll did not record is
still in the register, so the next reading covers the gap and no kWh is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from kilowatch.contract import Reading

MAX_INTERVAL_S = 86_400  # the contract's limit for interval_s
MAX_GAP_S = 366 * 86_400  # a longer silence is not a gap to fill but a different installation
ENERGY_DECIMALS = 6  # 1 mWh: well below any meter's resolution, keeps payloads short

DeltaKind = Literal["normal", "rollover", "reset", "implausible"]
StepEvent = Literal["reading", "baseline", "stale", "implausible"]


@dataclass(frozen=True, slots=True)
class CounterRules:
    """How to read a meter's cumulative register."""

    max_power_kw: float  # above this mean power over an interval, a jump is not believable
    rollover_kwh: float | None = None  # the register wraps to 0 at this value (None: never)
    rollover_kvarh: float | None = None


@dataclass(frozen=True, slots=True)
class MeterSample:
    """What one poll read from a meter; only the energy register is required."""

    energy_total_kwh: float
    reactive_total_kvarh: float | None = None
    power_kw: float | None = None
    power_factor: float | None = None
    voltage_v: tuple[float, ...] = ()
    current_a: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class MeterState:
    """The baseline the next interval is measured from (kept in SQLite with the readings)."""

    meter: str
    ts: int
    energy_total_kwh: float
    reactive_total_kvarh: float | None = None
    seq: int = 0  # seq of the last reading made


@dataclass(frozen=True, slots=True)
class Delta:
    """Energy between two register values and how it was worked out."""

    kind: DeltaKind
    energy: float | None  # None when implausible


@dataclass(frozen=True, slots=True)
class Step:
    """The result of one poll of one meter."""

    event: StepEvent
    readings: tuple[Reading, ...]
    state: MeterState
    detail: str = ""


def counter_delta(
    previous: float, current: float, elapsed_s: float, max_power_kw: float, rollover: float | None
) -> Delta:
    """The increase of a cumulative register over `elapsed_s`, never negative or a giant spike.

    - up by no more than max_power_kw × elapsed: normal;
    - down, and wrapping at `rollover` gives a believable increase: rollover;
    - down, and the new value itself is believable: the register was reset to 0 (energy since
      the reset is the new value; what came before the reset in this interval is unknowable);
    - anything else (a jump up or down too large, e.g. a meter swapped): implausible, no energy.
    """
    limit = max_power_kw * elapsed_s / 3600.0
    delta = current - previous
    if delta >= 0:
        return Delta("normal", delta) if delta <= limit else Delta("implausible", None)
    if rollover is not None:
        wrapped = current + rollover - previous
        if 0 <= wrapped <= limit:
            return Delta("rollover", wrapped)
    if 0 <= current <= limit:
        return Delta("reset", current)
    return Delta("implausible", None)


def split_interval(start_ts: int, end_ts: int, max_interval_s: int = MAX_INTERVAL_S) -> list[int]:
    """End times of consecutive chunks covering (start_ts, end_ts], none longer than the limit."""
    ends = list(range(start_ts + max_interval_s, end_ts, max_interval_s))
    ends.append(end_ts)
    return ends


def _share(total: float, part_s: int, whole_s: int) -> float:
    return round(total * part_s / whole_s, ENERGY_DECIMALS)


def advance(
    plant: str,
    meter: str,
    state: MeterState | None,
    sample: MeterSample,
    ts: int,
    rules: CounterRules,
) -> Step:
    """Turn one poll of one meter (at slot time `ts`) into readings and the next baseline.

    The first poll only sets the baseline. A gap longer than one day (agent off, storage full)
    becomes day-long readings sharing the energy in proportion to time: the total is exact, the
    profile inside the gap is unknown.
    """
    if state is None:
        first = MeterState(meter, ts, sample.energy_total_kwh, sample.reactive_total_kvarh, 0)
        return Step("baseline", (), first, "first reading of this meter: baseline set")
    if ts <= state.ts:
        return Step("stale", (), state, f"slot {ts} is not after the last one ({state.ts})")
    elapsed = ts - state.ts
    if elapsed > MAX_GAP_S:
        return Step(
            "implausible",
            (),
            MeterState(meter, ts, sample.energy_total_kwh, sample.reactive_total_kvarh, state.seq),
            f"the last reading is {elapsed // 86_400} days old (more than {MAX_GAP_S // 86_400}):"
            " no reading for that time, baseline reset",
        )
    energy = counter_delta(
        state.energy_total_kwh,
        sample.energy_total_kwh,
        elapsed,
        rules.max_power_kw,
        rules.rollover_kwh,
    )
    rebased = MeterState(meter, ts, sample.energy_total_kwh, sample.reactive_total_kvarh, state.seq)
    if energy.energy is None:
        return Step(
            "implausible",
            (),
            rebased,
            f"energy register went from {state.energy_total_kwh} to {sample.energy_total_kwh} kWh "
            f"in {elapsed} s (more than {rules.max_power_kw} kW, or a drop that is neither a "
            "rollover nor a reset): no reading for this interval, baseline reset",
        )
    reactive = None
    if state.reactive_total_kvarh is not None and sample.reactive_total_kvarh is not None:
        # Reactive energy gets no limit of its own: |Q| <= S and S ~ P at any sane power factor,
        # so twice the active limit only rejects garbage.
        reactive = counter_delta(
            state.reactive_total_kvarh,
            sample.reactive_total_kvarh,
            elapsed,
            2 * rules.max_power_kw,
            rules.rollover_kvarh,
        ).energy
    readings: list[Reading] = []
    begin = state.ts
    seq = state.seq
    for end in split_interval(state.ts, ts):
        seq += 1
        part = end - begin
        last = end == ts
        readings.append(
            Reading(
                plant=plant,
                meter=meter,
                ts=end,
                energy_kwh=_share(energy.energy, part, elapsed),
                interval_s=part,
                seq=seq,
                energy_total_kwh=sample.energy_total_kwh if last else None,
                power_kw=sample.power_kw if last else None,
                reactive_kvarh=None if reactive is None else _share(reactive, part, elapsed),
                power_factor=sample.power_factor if last else None,
                voltage_v=sample.voltage_v if last else (),
                current_a=sample.current_a if last else (),
            )
        )
        begin = end
    detail = "" if energy.kind == "normal" else f"register {energy.kind}: interval energy corrected"
    return Step("reading", tuple(readings), replace(rebased, seq=seq), detail)
