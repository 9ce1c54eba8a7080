"""Each plant's bill so far, kept by the bridge from the readings it stored (issue: billing).

The billing logic is kilowatch.billing's RunningBill (pure, order-independent); this module
only feeds it stored readings, restores it from InfluxDB at start and turns it into `billing`
points for the dashboards.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from kilowatch.billing.errors import BillingError
from kilowatch.billing.influx import InfluxSource, restore_running_bill
from kilowatch.billing.running import RunningBill
from kilowatch.bridge.process import ReadingColumns
from kilowatch.tariff import PlantTariff

logger = logging.getLogger(__name__)

# Readings are added in bulk (per health report, or per this many) because a RunningBill's cost
# is mostly per call: one call per meter and batch cost a quarter of the bridge's throughput.
FLUSH_READINGS = 50_000


class RunningBills:
    """One RunningBill per plant of the plant file; safe to use from several threads."""

    def __init__(self, bills: Mapping[str, RunningBill]) -> None:
        self._lock = threading.Lock()  # store threads count; the health thread reads
        self._bills = dict(bills)
        self._pending: dict[str, list[ReadingColumns]] = defaultdict(list)
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

    def count(self, stored: Mapping[str, ReadingColumns]) -> None:
        """Take readings InfluxDB has accepted; they are added in bulk, before the next lines()."""
        with self._lock:
            for plant_id, columns in stored.items():
                if len(columns):
                    self._pending[plant_id].append(columns)
                    self._pending_count += len(columns)
            if self._pending_count >= FLUSH_READINGS:
                self._flush()

    def _flush(self) -> None:
        """Add the pending readings, plant by plant and meter by meter, as columns."""
        pending, self._pending, self._pending_count = self._pending, defaultdict(list), 0
        for plant_id, batches in pending.items():
            # Where each meter's rows are once the batches are joined.
            positions: dict[str, list[np.ndarray]] = defaultdict(list)
            offset = 0
            for columns in batches:
                for meter, start, stop in columns.runs:
                    positions[meter].append(np.arange(offset + start, offset + stop))
                offset += len(columns)
            ts, length, kwh, kvarh = (
                np.concatenate([getattr(columns, name) for columns in batches])
                for name in ("ts", "interval_s", "energy_kwh", "reactive_kvarh")
            )
            bill = self._bills[plant_id]
            for meter, runs in positions.items():
                at = np.concatenate(runs)
                bill.add_many(meter, ts[at], length[at], kwh[at], kvarh[at])

    def lines(self, now: float) -> list[str]:
        """`billing` points: the current period, and any period that late readings changed."""
        with self._lock:
            self._flush()
            return [point.line() for bill in self._bills.values() for point in bill.points(now)]
