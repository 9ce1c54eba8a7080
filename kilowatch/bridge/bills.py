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

from kilowatch.billing.demand import DemandWatch, MeterLatest
from kilowatch.billing.errors import BillingError
from kilowatch.billing.running import RunningBill
from kilowatch.config import PlantConfig
from kilowatch.influx.reader import InfluxReader, InfluxReadError, InfluxSource
from kilowatch.influx.schema import billing_line, budget_watch_line, demand_watch_line
from kilowatch.processing import Processed, ReadingColumns
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
        self._watches: dict[str, DemandWatch] = {}  # by plant, when the demand watch is on
        self._next_watch = 0.0  # when demand_lines() may project again

    @classmethod
    def restore(
        cls, tariffs: Mapping[str, PlantTariff], source: InfluxSource, now: float
    ) -> RunningBills:
        """Rebuild every plant's bill from the readings InfluxDB holds; empty where it cannot."""
        bills = {}
        for plant_id, tariff in tariffs.items():
            try:
                bills[plant_id] = restore_running_bill(source, tariff, plant_id, now)
            except (BillingError, InfluxReadError) as err:
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

    def watch_demand(self, plants: Mapping[str, PlantConfig]) -> None:
        """Also project each plant's open demand window and its bill (see demand_lines())."""
        with self._lock:
            self._watches = {
                plant_id: DemandWatch(
                    bill, limit_kw=plants[plant_id].demand_limit_kw, budget=plants[plant_id].budget
                )
                for plant_id, bill in self._bills.items()
            }

    def observe(self, processed: Processed) -> None:
        """Note each meter's newest stored reading of a batch: where its data ends and its power."""
        if not self._watches:
            return
        with self._lock:
            for plant_id, costed in processed.costed.items():
                watch = self._watches[plant_id]
                # A batch of single-reading messages has a run per reading: find each meter's
                # newest row with plain ints first, and build one MeterLatest per meter.
                ts_column = costed.columns.ts
                ts = ts_column.tolist()
                newest: dict[str, int] = {}
                for meter, start, stop in costed.columns.runs:
                    if stop == start:
                        continue
                    row = start
                    if stop - start > 1:  # an array: its newest reading
                        row += int(np.argmax(ts_column[start:stop]))
                    known = newest.get(meter)
                    if known is None or ts[row] >= ts[known]:
                        newest[meter] = row
                for meter, row in newest.items():
                    r = costed.readings[row]
                    watch.note(meter, MeterLatest.of(r.ts, r.interval_s, r.energy_kwh, r.power_kw))

    def demand_lines(self, now: float, interval_s: float) -> list[str]:
        """`demand_watch` and `budget_watch` points, if `interval_s` has passed since the last
        ones (several store threads ask after every batch): [] otherwise."""
        if not self._watches or now < self._next_watch:
            return []
        with self._lock:
            if now < self._next_watch:
                return []
            self._next_watch = now + interval_s
            self._flush()
            lines = []
            for watch in self._watches.values():
                demand, bill = watch.project(int(now))
                lines += [demand_watch_line(p) for p in demand]
                lines.append(budget_watch_line(bill))
            return lines

    def lines(self, now: float) -> list[str]:
        """`billing` points: the current period, and any period that late readings changed."""
        with self._lock:
            self._flush()
            return [
                billing_line(point) for bill in self._bills.values() for point in bill.points(now)
            ]


def restore_running_bill(
    source: InfluxSource, plant: PlantTariff, plant_id: str, now: float
) -> RunningBill:
    """A plant's running bill rebuilt from the readings InfluxDB holds (for the bridge's start)."""
    empty = RunningBill(plant, plant_id)
    reader = InfluxReader(source)
    try:
        stored = reader.readings(plant_id, empty.lookback_start(now), int(now))
    finally:
        reader.close()
    return RunningBill.rebuild(plant, plant_id, stored)
