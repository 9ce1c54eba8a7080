"""Hand-made billing tariffs with round numbers, so bills can be worked out by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import yaml

from kilowatch.tariff import PlantTariff, parse_tariff

FLAT: dict[str, Any] = {
    "id": "test-flat",
    "version": "1",
    "name": "Flat test tariff",
    "source": {"document": "hand-made test tariff", "date": "2026-01"},
    "currency": "USD",
    "tax_percent": 0,
    "rates": {"standard": 0.10},
    "seasons": [
        {
            "name": "all-year",
            "from": "01-01",
            "to": "12-31",
            "schedule": {"everyday": [["00:00", "24:00", "standard"]]},
        }
    ],
}

# Peak 18:00-22:00 every day at 0.30, off-peak 0.10.
TOU: dict[str, Any] = {
    **FLAT,
    "id": "test-tou",
    "rates": {"off_peak": 0.10, "peak": 0.30},
    "seasons": [
        {
            "name": "all-year",
            "from": "01-01",
            "to": "12-31",
            "schedule": {
                "everyday": [
                    ["00:00", "18:00", "off_peak"],
                    ["18:00", "22:00", "peak"],
                    ["22:00", "24:00", "off_peak"],
                ]
            },
        }
    ],
}

# Demand billed twice: every window at 3/kW, peak-hour windows at 7/kW with a one-month ratchet
# at 50 %.
TWO_CHARGES_RATCHETED: dict[str, Any] = {
    "charges": [
        {"name": "max", "per_kw": 3},
        {"name": "peak", "per_kw": 7, "periods": ["peak"], "ratchet": {"percent": 50, "months": 1}},
    ]
}


def plant(base: dict[str, Any], zone: str = "UTC", **billing: Any) -> PlantTariff:
    """The tariff `base` with a `billing:` section, in `zone`."""
    raw = yaml.safe_load(yaml.safe_dump({**base, "billing": billing}))
    return PlantTariff(parse_tariff(raw), zone)


def readings(
    ts: Any, energy_kwh: Any, interval_s: int = 900, reactive_kvarh: Any = None
) -> pd.DataFrame:
    """A readings DataFrame (ts = end of interval)."""
    ts = np.asarray(ts, dtype=np.int64)
    frame = pd.DataFrame(
        {
            "ts": ts,
            "interval_s": np.full(len(ts), interval_s, dtype=np.int64),
            "energy_kwh": np.broadcast_to(np.asarray(energy_kwh, dtype=np.float64), ts.shape),
        }
    )
    if reactive_kvarh is not None:
        frame["reactive_kvarh"] = np.broadcast_to(
            np.asarray(reactive_kvarh, dtype=np.float64), ts.shape
        )
    return frame


def steady(start_ts: int, end_ts: int, kwh: float, interval_s: int = 900) -> pd.DataFrame:
    """Readings of `kwh` each, every `interval_s`, covering [start_ts, end_ts)."""
    return readings(np.arange(start_ts + interval_s, end_ts + 1, interval_s), kwh, interval_s)
