"""What a simulated meter measures: the kind of load behind it and its size, chosen from its id."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, get_args

from kilowatch.metermodel.noise import stream_key

MeterKind = Literal["press", "compressor", "hvac", "lighting", "furnace", "assembly"]
METER_KINDS: tuple[MeterKind, ...] = get_args(MeterKind)
MAX_NOISE = 0.2  # relative standard deviation; more could make power negative


@dataclass(frozen=True, slots=True)
class MeterProfile:
    """The load behind a meter: an always-on base plus machines cycling on and off.

    Machines run with a duty cycle between `duty_idle` (plant idle) and `duty_full` (full
    production); `cycle_s` 0 means they follow the plant smoothly instead (lighting). Reactive
    power comes from each part's power factor, so the meter's power factor falls at light load,
    when the poorly compensated base dominates.
    """

    kind: MeterKind
    base_kw: float  # always on: controls, idling motors, transformers
    peak_kw: float  # base plus every machine on
    machines: int = 1
    cycle_s: int = 0  # mean on+off period of a machine; 0: no cycling
    duty_full: float = 1.0
    duty_idle: float = 0.0
    noise: float = 0.03  # relative standard deviation of the machines' power
    base_power_factor: float = 0.6
    machine_power_factor: float = 0.9
    daily_swing: float = 0.0  # machine load +/- this fraction, peaking mid-afternoon (cooling)

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.base_kw < self.peak_kw:
            problems.append(f"need 0 < base_kw < peak_kw, got {self.base_kw} and {self.peak_kw}")
        if self.machines < 1:
            problems.append(f"machines must be at least 1, got {self.machines}")
        if self.cycle_s != 0 and self.cycle_s < 120:
            problems.append(f"cycle_s must be 0 (no cycling) or at least 120, got {self.cycle_s}")
        for name in ("duty_full", "duty_idle"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be 0..1, got {getattr(self, name)}")
        if not 0.0 <= self.noise <= MAX_NOISE:
            problems.append(f"noise must be 0..{MAX_NOISE}, got {self.noise}")
        for name in ("base_power_factor", "machine_power_factor"):
            if not 0.0 < getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.daily_swing < 1.0:
            problems.append(f"daily_swing must be in [0, 1), got {self.daily_swing}")
        if problems:
            raise ValueError(f"{self.kind} profile: " + "; ".join(problems))

    @property
    def machine_kw(self) -> float:
        """Power of all machines running together."""
        return self.peak_kw - self.base_kw

    @property
    def base_tan_phi(self) -> float:
        """Reactive per active power of the base (kvar per kW)."""
        return math.tan(math.acos(self.base_power_factor))

    @property
    def machine_tan_phi(self) -> float:
        """Reactive per active power of the machines (kvar per kW)."""
        return math.tan(math.acos(self.machine_power_factor))


@dataclass(frozen=True, slots=True)
class _Template:
    """A kind's typical load; the peak is drawn from the range, the rest scales with it."""

    peak_kw: tuple[float, float]
    base_share: float
    machines: int
    cycle_s: int
    duty_full: float
    duty_idle: float
    noise: float
    base_power_factor: float
    machine_power_factor: float
    daily_swing: float = 0.0


_TEMPLATES: dict[MeterKind, _Template] = {
    # Press lines: runs of a few minutes between die changes and material waits.
    "press": _Template((120, 400), 0.10, 3, 480, 0.75, 0.0, 0.08, 0.45, 0.86),
    # Air compressors load and unload; leaks keep them cycling when the plant is idle.
    "compressor": _Template((55, 250), 0.06, 2, 300, 0.8, 0.18, 0.04, 0.5, 0.9),
    # Chillers and air handlers: thermostat cycles, more load in the afternoon heat.
    "hvac": _Template((40, 300), 0.05, 3, 1200, 0.65, 0.15, 0.03, 0.65, 0.9, 0.3),
    # LED lighting follows occupancy; security lights stay on.
    "lighting": _Template((15, 80), 0.08, 1, 0, 1.0, 0.05, 0.01, 0.85, 0.95),
    # Resistive heating zones held at temperature over the weekend.
    "furnace": _Template((150, 600), 0.06, 3, 900, 0.85, 0.35, 0.02, 0.8, 0.99),
    # Conveyors, tools and robots.
    "assembly": _Template((60, 250), 0.12, 4, 240, 0.7, 0.02, 0.05, 0.55, 0.88),
}

_KEYWORDS: tuple[tuple[str, MeterKind], ...] = (
    ("press", "press"),
    ("stamp", "press"),
    ("compressor", "compressor"),
    ("air", "compressor"),
    ("hvac", "hvac"),
    ("chiller", "hvac"),
    ("cooling", "hvac"),
    ("ahu", "hvac"),
    ("light", "lighting"),
    ("lamp", "lighting"),
    ("furnace", "furnace"),
    ("oven", "furnace"),
    ("kiln", "furnace"),
    ("heat", "furnace"),
    ("assembly", "assembly"),
    ("line", "assembly"),
    ("conveyor", "assembly"),
    ("weld", "assembly"),
)


def infer_kind(*texts: str) -> MeterKind | None:
    """The kind a meter's id or name suggests ('press-2', 'Air compressor 1'), if any."""
    for text in texts:
        # Whole words only: 'compressor' must not read as 'press', nor 'repair' as 'air'.
        for word in re.findall(r"[a-z]+", text.lower()):
            for start, kind in _KEYWORDS:
                if word.startswith(start):
                    return kind
    return None


def default_profile(meter_id: str, kind: MeterKind | None = None) -> MeterProfile:
    """A typical profile for the meter: kind from `kind`, else its id, else a hash of its id.

    The size comes from a hash of the id too, so a meter looks the same on every run.
    """
    key = stream_key("profile", meter_id)
    chosen = kind or infer_kind(meter_id) or METER_KINDS[key % len(METER_KINDS)]
    template = _TEMPLATES[chosen]
    low, high = template.peak_kw
    fraction = (key >> 8 & 0xFFFF) / 0xFFFF
    peak = round(low + (high - low) * fraction, 1)
    return MeterProfile(
        kind=chosen,
        base_kw=round(peak * template.base_share, 2),
        peak_kw=peak,
        machines=template.machines,
        cycle_s=template.cycle_s,
        duty_full=template.duty_full,
        duty_idle=template.duty_idle,
        noise=template.noise,
        base_power_factor=template.base_power_factor,
        machine_power_factor=template.machine_power_factor,
        daily_swing=template.daily_swing,
    )
