"""Tariff engine: tariff files (YAML) and the cost of energy in a plant's local time.

See kilowatch/tariff/README.md for the file format and the cost rules.
"""

from __future__ import annotations

from kilowatch.tariff.errors import TariffError
from kilowatch.tariff.loader import load_tariff, parse_tariff
from kilowatch.tariff.model import Tariff
from kilowatch.tariff.plant import Cost, CostBatch, PeriodSplit, PlantTariff, Rate

__all__ = [
    "Cost",
    "CostBatch",
    "PeriodSplit",
    "PlantTariff",
    "Rate",
    "Tariff",
    "TariffError",
    "load_tariff",
    "parse_tariff",
]
