"""A simulated meter: power minute by minute from its plant's shifts, and registers integrating it.

Pure: a meter is a function of (seed, plant, meter, time). Power is constant within each minute;
the energy register is the integral of power since EPOCH_TS plus a per-meter initial reading.

Each day's energy is fixed in advance from the calendar alone (a few numbers per day), and the
day's minute-by-minute power, noise and machine cycles included, is scaled to add up to it. So the
register at any instant costs one day's arrays plus a cumulative sum of daily totals, not years
of minutes, and it is the same whether computed first, last or alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kilowatch.contract import Reading, check_id
from kilowatch.metermodel.calendar import (
    DAY_S,
    DEFAULT_SCHEDULE,
    STEP_S,
    STEPS_PER_DAY,
    ShiftSchedule,
    plant_calendar,
)
from kilowatch.metermodel.noise import Floats, Indices, stream_key, triangular, uniform
from kilowatch.metermodel.profiles import MeterProfile, default_profile

__all__ = [
    "EPOCH_TS",
    "MeterProfile",
    "Register",
    "SimulatedMeter",
    "default_profile",
    "nominal_phase_voltage",
]

EPOCH_TS = 1577836800  # 2020-01-01T00:00:00Z: registers integrate power from here on
_EPOCH_DAY = EPOCH_TS // DAY_S
_PREFIX_CHUNK_DAYS = 64  # daily totals are added this many days ahead of need
_CACHED_DAYS = 4  # minute arrays kept per meter: enough for readings that straddle midnight
_SQRT6 = math.sqrt(6.0)  # triangular noise has standard deviation 1/sqrt(6)
_VOLTAGE_DROP_AT_PEAK = 0.02  # phase voltage sags this much when the meter draws its peak
_VOLTAGE_NOISE = 0.005
_VOLTAGE_IMBALANCE = 0.008  # each phase's nominal is off by up to this fraction
_CURRENT_IMBALANCE = 0.03  # each phase's share of the load is off by up to this fraction
# Low-voltage three-phase service of 127/220 V (120/208 V in the US and Canada, simulated as
# 127/220 V); elsewhere 230/400 V.
_COUNTRIES_127_V = frozenset(
    {"MX", "US", "CA", "CO", "VE", "EC", "CR", "PA", "GT", "HN", "SV", "NI", "DO", "TW", "SA"}
)


def nominal_phase_voltage(country: str | None) -> float:
    """Phase-to-neutral voltage of low-voltage three-phase service: 127 V or 230 V."""
    return 127.0 if country in _COUNTRIES_127_V else 230.0


@dataclass(frozen=True, slots=True)
class Register:
    """What the meter shows at an instant, at its resolution (1 Wh, 1 varh, 1 W, 0.1 V, 0.01 A)."""

    energy_total_kwh: float
    reactive_total_kvarh: float
    power_kw: float
    power_factor: float
    voltage_v: tuple[float, float, float]  # phase to neutral, L1..L3
    current_a: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class _Day:
    """One UTC day of a meter, minute by minute."""

    power_kw: Floats
    reactive_kvar: Floats
    power_factor: Floats
    energy_kwh: Floats  # from the day's start to the start of each minute
    reactive_kvarh: Floats


@dataclass(frozen=True, slots=True)
class _Measured:
    """Registers and instantaneous values at several instants, rounded to the meter's resolution."""

    energy_wh: Indices
    reactive_varh: Indices
    power_kw: Floats
    power_factor: Floats
    voltage_v: Floats  # (n, 3)
    current_a: Floats  # (n, 3)


@dataclass(frozen=True, slots=True)
class _Machine:
    """One cycling machine: its period and phase in seconds and the key of its cycle jitter."""

    period_s: float
    phase_s: float
    key: int


class SimulatedMeter:
    """A meter on a simulated plant: deterministic in (seed, plant, meter, time).

    Not thread-safe: it caches the days it computed.
    """

    def __init__(
        self,
        plant: str,
        meter: str,
        profile: MeterProfile,
        timezone: str,
        seed: int,
        holidays_country: str | None = "MX",
        *,
        phase_voltage_v: float | None = None,
        schedule: ShiftSchedule = DEFAULT_SCHEDULE,
    ) -> None:
        check_id(plant, "plant")
        check_id(meter, "meter")
        self.plant = plant
        self.meter = meter
        self.profile = profile
        self.timezone = timezone
        self.seed = seed
        self.holidays_country = holidays_country
        self.phase_voltage_v = phase_voltage_v or nominal_phase_voltage(holidays_country)
        self._calendar = plant_calendar(timezone, holidays_country, schedule)
        self._keys = {
            name: stream_key(seed, plant, meter, name)
            for name in ("constants", "day", "base", "cycles", "machine_noise", "voltage")
        }
        constants = uniform(self._keys["constants"], np.arange(8, dtype=np.int64))
        offset_kwh = 10_000.0 + 990_000.0 * constants[0]
        offset_kvarh = offset_kwh * (0.2 + 0.3 * constants[1])
        self._voltage_factor = 1.0 + _VOLTAGE_IMBALANCE * (2.0 * constants[2:5] - 1.0)
        deviation = _CURRENT_IMBALANCE * (2.0 * constants[5:8] - 1.0)
        self._current_share = 1.0 + deviation - deviation.mean()  # shares add up to 3
        self._machines = self._make_machines()
        self._base_tan = profile.base_tan_phi
        self._machine_tan = profile.machine_tan_phi
        # _prefix_*[i]: register at the start of UTC day _EPOCH_DAY + i.
        self._prefix_kwh = np.array([offset_kwh])
        self._prefix_kvarh = np.array([offset_kvarh])
        self._days: dict[int, _Day] = {}

    def __repr__(self) -> str:
        return f"SimulatedMeter({self.plant}/{self.meter}, {self.profile.kind}, seed {self.seed})"

    def power_at(self, ts: int) -> float:
        """Active power (kW) during the minute that contains ts."""
        _check_ts(ts)
        day = self._day(ts // DAY_S)
        return float(day.power_kw[ts % DAY_S // STEP_S])

    def register_at(self, ts: int) -> Register:
        """The registers and instantaneous values at ts, as the meter would show them."""
        measured = self._measure(np.array([ts], dtype=np.int64))
        return Register(
            energy_total_kwh=int(measured.energy_wh[0]) / 1000,
            reactive_total_kvarh=int(measured.reactive_varh[0]) / 1000,
            power_kw=float(measured.power_kw[0]),
            power_factor=float(measured.power_factor[0]),
            voltage_v=_three(measured.voltage_v[0].tolist()),
            current_a=_three(measured.current_a[0].tolist()),
        )

    def reading(self, ts_end: int, interval_s: int, seq: int | None = None) -> Reading:
        """The reading for the interval ending at ts_end: energy is the register difference."""
        return self.readings(ts_end, interval_s, 1, seq)[0]

    def readings(
        self, first_end: int, interval_s: int, count: int, first_seq: int | None = None
    ) -> list[Reading]:
        """Consecutive readings, the first ending at first_end; sequence numbers from first_seq."""
        if interval_s < 1 or count < 1:
            raise ValueError(f"need interval_s >= 1 and count >= 1, got {interval_s} and {count}")
        bounds = first_end + interval_s * np.arange(-1, count, dtype=np.int64)
        measured = self._measure(bounds)
        energy = (np.diff(measured.energy_wh) / 1000).tolist()
        reactive = (np.diff(measured.reactive_varh) / 1000).tolist()
        total = (measured.energy_wh[1:] / 1000).tolist()
        power = measured.power_kw[1:].tolist()
        factor = measured.power_factor[1:].tolist()
        voltage = measured.voltage_v[1:].tolist()
        current = measured.current_a[1:].tolist()
        ends = bounds[1:].tolist()
        seqs = [None] * count if first_seq is None else range(first_seq, first_seq + count)
        plant, meter = self.plant, self.meter
        # Positional and zipped: this loop is most of the cost of a backfill.
        return [
            Reading(plant, meter, ts, e, interval_s, n, t, p, q, pf, tuple(v), tuple(i))
            for ts, e, n, t, p, q, pf, v, i in zip(
                ends, energy, seqs, total, power, reactive, factor, voltage, current, strict=True
            )
        ]

    # The model

    def _make_machines(self) -> tuple[_Machine, ...]:
        """Each machine's cycle: the mean period +/- 20 %, and a phase so they run out of step."""
        if self.profile.cycle_s == 0:
            return ()
        count = self.profile.machines
        draws = uniform(self._keys["cycles"], np.arange(2 * count, dtype=np.int64))
        machines = []
        for i in range(count):
            # Periods are not whole minutes, or readings every 5 minutes would keep catching a
            # machine at the same point of its cycle.
            period_s = float(self.profile.cycle_s * (0.8 + 0.4 * draws[2 * i]))
            phase_s = float(draws[2 * i + 1] * period_s)
            machines.append(_Machine(period_s, phase_s, stream_key(self._keys["cycles"], i)))
        return tuple(machines)

    def _machine_kw_minutes(self, first_day: int, stop_day: int) -> Floats:
        """Machine energy of each UTC day in [first_day, stop_day), in kW x minutes.

        The expected value of the minute-by-minute model, from the calendar's daily sums, times a
        day-to-day production factor of 0.92-1.08.
        """
        profile = self.profile
        sums = self._calendar.sums(first_day, stop_day)
        activity, wave, activity_wave = sums[:, 0], sums[:, 1], sums[:, 2]
        swing = profile.daily_swing
        duty_minutes = profile.duty_idle * (STEPS_PER_DAY + swing * wave) + (
            profile.duty_full - profile.duty_idle
        ) * (activity + swing * activity_wave)
        days = np.arange(first_day, stop_day, dtype=np.int64)
        production = 0.92 + 0.16 * uniform(self._keys["day"], days)
        return profile.machine_kw * production * duty_minutes

    def _ensure_prefix(self, day: int) -> None:
        """Extend the daily register values up to the start of `day`."""
        have = len(self._prefix_kwh) - 1
        need = day - _EPOCH_DAY
        if need <= have:
            return
        first = _EPOCH_DAY + have
        machine = self._machine_kw_minutes(first, _EPOCH_DAY + need + _PREFIX_CHUNK_DAYS)
        base = self.profile.base_kw * STEPS_PER_DAY
        kwh = (base + machine) / 60.0
        kvarh = (base * self._base_tan + machine * self._machine_tan) / 60.0
        # cumsum from the last known value: the same additions in the same order however the
        # days were split into chunks, so a register does not depend on what was asked before.
        self._prefix_kwh = np.concatenate(
            [self._prefix_kwh[:-1], np.cumsum(np.concatenate([self._prefix_kwh[-1:], kwh]))]
        )
        self._prefix_kvarh = np.concatenate(
            [self._prefix_kvarh[:-1], np.cumsum(np.concatenate([self._prefix_kvarh[-1:], kvarh]))]
        )

    def _day(self, day: int) -> _Day:
        found = self._days.get(day)
        if found is None:
            if len(self._days) >= _CACHED_DAYS:
                del self._days[next(iter(self._days))]  # the oldest computed
            found = self._days[day] = self._make_day(day)
        return found

    def _make_day(self, day: int) -> _Day:
        """One UTC day minute by minute: base and machines with noise, scaled to the day's total."""
        profile = self.profile
        plan = self._calendar.day(day)
        minute = day * STEPS_PER_DAY + np.arange(STEPS_PER_DAY, dtype=np.int64)
        duty = profile.duty_idle + (profile.duty_full - profile.duty_idle) * plan.activity
        if not self._machines:
            running = duty * profile.machines
        else:
            running = np.zeros(STEPS_PER_DAY)
            start_s = minute * STEP_S
            for machine in self._machines:
                running += _on_share(machine, start_s, duty)
        machine_kw = (
            running
            * (1.0 + profile.daily_swing * plan.wave)
            * (1.0 + profile.noise * _SQRT6 * triangular(self._keys["machine_noise"], minute))
        )
        base_kw = 1.0 + profile.noise * 0.5 * _SQRT6 * triangular(self._keys["base"], minute)
        base_kw *= profile.base_kw * STEPS_PER_DAY / base_kw.sum()
        target = float(self._machine_kw_minutes(day, day + 1)[0])
        drawn = float(machine_kw.sum())
        if drawn > 0.0:
            machine_kw *= target / drawn
        else:
            machine_kw = np.full(STEPS_PER_DAY, target / STEPS_PER_DAY)
        power = base_kw + machine_kw
        reactive = base_kw * self._base_tan + machine_kw * self._machine_tan
        energy = np.empty(STEPS_PER_DAY)
        energy[0] = 0.0
        np.cumsum(power[:-1] / 60.0, out=energy[1:])
        reactive_energy = np.empty(STEPS_PER_DAY)
        reactive_energy[0] = 0.0
        np.cumsum(reactive[:-1] / 60.0, out=reactive_energy[1:])
        return _Day(power, reactive, power / np.hypot(power, reactive), energy, reactive_energy)

    def _state(self, ts: Indices) -> tuple[Floats, Floats, Floats, Floats]:
        """Registers (kWh, kvarh), power (kW) and power factor at each instant, unrounded."""
        _check_ts(int(ts.min()))
        days = ts // DAY_S
        self._ensure_prefix(int(days.max()))
        energy, reactive, power, factor = (np.empty(len(ts)) for _ in range(4))
        for day in np.unique(days).tolist():
            where = days == day
            data = self._day(day)
            into_day = ts[where] - day * DAY_S
            minute = into_day // STEP_S
            hours = (into_day - minute * STEP_S) / 3600.0  # into the current minute
            index = day - _EPOCH_DAY
            energy[where] = (
                self._prefix_kwh[index] + data.energy_kwh[minute] + data.power_kw[minute] * hours
            )
            reactive[where] = (
                self._prefix_kvarh[index]
                + data.reactive_kvarh[minute]
                + data.reactive_kvar[minute] * hours
            )
            power[where] = data.power_kw[minute]
            factor[where] = data.power_factor[minute]
        return energy, reactive, power, factor

    def _measure(self, ts: Indices) -> _Measured:
        energy, reactive, power, factor = self._state(ts)
        index = (ts // STEP_S)[:, None] * 3 + np.arange(3, dtype=np.int64)
        noise = triangular(self._keys["voltage"], index.ravel()).reshape(-1, 3)
        load = (power / self.profile.peak_kw)[:, None]
        voltage = self.phase_voltage_v * (
            self._voltage_factor - _VOLTAGE_DROP_AT_PEAK * load + _VOLTAGE_NOISE * noise
        )
        # Each phase carries its share of P = sum(V_i * I_i * PF): I_i = share_i * P / (3 V_i PF).
        current = self._current_share * (power * 1000.0 / (3.0 * factor))[:, None] / voltage
        return _Measured(
            energy_wh=np.floor(energy * 1000.0).astype(np.int64),
            reactive_varh=np.floor(reactive * 1000.0).astype(np.int64),
            power_kw=np.round(power, 3),
            power_factor=np.round(factor, 3),
            voltage_v=np.round(voltage, 1),
            current_a=np.round(current, 2),
        )


def _on_share(machine: _Machine, start_s: Indices, duty: Floats) -> Floats:
    """The share of each minute (starting at start_s) during which the machine was on.

    A cycle starts on, for duty x period (x a jitter of +/- 30 % per cycle), then stops. Periods
    are longer than a minute (cycle_s >= 120, less 20 %), so a minute meets at most two cycles:
    the one it starts in and the next.
    """
    cycle = np.floor((start_s + machine.phase_s) / machine.period_s).astype(np.int64)
    cycle_start = cycle * machine.period_s - machine.phase_s
    first = int(cycle[0])
    jitters = 0.7 + 0.6 * uniform(machine.key, np.arange(first, int(cycle[-1]) + 2))
    on_s = np.zeros(len(start_s))
    for offset in (0, 1):
        jitter = jitters[cycle - first + offset]
        begin = cycle_start + offset * machine.period_s
        end = begin + np.minimum(duty * jitter, 1.0) * machine.period_s
        overlap = np.minimum(end, start_s + STEP_S) - np.maximum(begin, start_s)
        on_s += np.clip(overlap, 0.0, None)
    return on_s / STEP_S


def _check_ts(ts: int) -> None:
    if ts < EPOCH_TS:
        raise ValueError(
            f"ts {ts} is before the simulator's epoch {EPOCH_TS} (2020-01-01T00:00:00Z), "
            "where its registers start"
        )


def _three(values: list[float]) -> tuple[float, float, float]:
    return (values[0], values[1], values[2])
