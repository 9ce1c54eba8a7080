"""Each plant's bill so far, kept by the bridge from the readings it stored (issue: billing).

The billing logic is kilowatch.billing's RunningBill (pure, order-independent); this module
only feeds it stored readings, restores it from InfluxDB at start and turns it into `billing`
points for the dashboards.
"""

from __future__ import annotations

import itertools
import logging
import operator
import threading
from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from kilowatch.billing.errors import BillingError
from kilowatch.billing.influx import InfluxSource, restore_running_bill
from kilowatch.billing.running import RunningBill
from kilowatch.contract import Reading
from kilowatch.tariff import PlantTariff

logger = logging.getLogger(__name__)

# Readings are added in bulk (per health report, or per this many) because a RunningBill's cost
# is mostly per call: one call per meter and batch cost a quarter of the bridge's throughput.
FLUSH_READINGS = 50_000
_TS, _INTERVAL, _ENERGY, _KVARH, _METER = map(
    operator.attrgetter, ("ts", "interval_s", "energy_kwh", "reactive_kvarh", "meter")
)


class RunningBills:
    """One RunningBill per plant of the plant file; safe to use from several threads."""

    def __init__(self, bills: Mapping[str, RunningBill]) -> None:
        self._lock = threading.Lock()  # store threads count; the health thread reads
        self._bills = dict(bills)
        self._pending: dict[str, list[Reading]] = defaultdict(list)
        self._pending_count = 0

    @classmethod
    def restore(
        cls, tariffs: Mapping[str, PlantTariff], source: InfluxSource, now: float
    ) -> RunningBills:
        """Rebuild every plant's bill from the readings InfluxDB holds; empty where it cannot."""
        bills = {}
        for plant_id, tariff in tariffs.items():
            try:
                bills[plant_id] = restore_running_bill(source, tariff, plant_id, now)
            except BillingError as err:
                logger.error(
                    "cannot rebuild plant %s's running bill from InfluxDB, starting from zero "
                    "(the billing points show only readings from now on): %s",
                    plant_id,
                    err,
                )
                bills[plant_id] = RunningBill(tariff, plant_id)
        return cls(bills)

    def count(self, stored: Mapping[str, list[Reading]]) -> None:
        """Take readings InfluxDB has accepted; they are added in bulk, before the next lines()."""
        with self._lock:
            for plant_id, readings in stored.items():
                self._pending[plant_id].extend(readings)
                self._pending_count += len(readings)
            if self._pending_count >= FLUSH_READINGS:
                self._flush()

    def _flush(self) -> None:
        """Add the pending readings, plant by plant and meter by meter, as columns."""
        pending, self._pending, self._pending_count = self._pending, defaultdict(list), 0
        for plant_id, readings in pending.items():
            count = len(readings)
            ts = np.fromiter(map(_TS, readings), np.int64, count)
            length = np.fromiter(map(_INTERVAL, readings), np.int64, count)
            kwh = np.fromiter(map(_ENERGY, readings), np.float64, count)
            kvarhs = list(map(_KVARH, readings))
            kvarh = (
                np.array([np.nan if k is None else k for k in kvarhs], dtype=np.float64)
                if kvarhs.count(None) != count
                else np.full(count, np.nan)
            )
            # A message holds one meter's readings, so they come in runs of one meter.
            positions: dict[str, list[np.ndarray]] = defaultdict(list)
            start = 0
            for meter, run in itertools.groupby(readings, key=_METER):
                end = start + sum(1 for _ in run)
                positions[meter].append(np.arange(start, end))
                start = end
            bill = self._bills[plant_id]
            for meter, runs in positions.items():
                at = np.concatenate(runs)
                bill.add_many(meter, ts[at], length[at], kwh[at], kvarh[at])

    def lines(self, now: float) -> list[str]:
        """`billing` points: the current period, and any period that late readings changed."""
        with self._lock:
            self._flush()
            return [point.line() for bill in self._bills.values() for point in bill.points(now)]
