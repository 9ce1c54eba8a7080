"""InfluxDB adapter of the ETLs: stored energy per line and local day in, client points out.

Reads are kilowatch.query's InfluxQL over `/query` (InfluxDB 1.x, 2.x's v1 API with a DBRP
mapping, 3.x); writes go through kilowatch.influx.writer (1.x, 2.x, 3.x).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from kilowatch.config import PlantConfig
from kilowatch.etl.errors import EtlError
from kilowatch.etl.progress import Progress
from kilowatch.influx.reader import InfluxSource
from kilowatch.influx.writer import (
    InfluxTarget,
    InfluxWriteError,
    InfluxWriter,
    access_error,
    detect_version,
    open_writer,
)
from kilowatch.query import InfluxQLRunner, Query, QueryError, QueryRunError, run
from kilowatch.query.plan import EnergyField

logger = logging.getLogger(__name__)

WRITE_BATCH = 5_000
WRITE_THREADS = 2
WRITE_ATTEMPTS = 4
FIELDS: tuple[EnergyField, ...] = ("energy_kwh", "cost")
DAILY_COLUMNS = ["day", "line", "energy_kwh", "cost"]


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """Where to read and write: URL, database (1.x) or bucket, org (2.x), token, version."""

    url: str
    bucket: str
    org: str = ""
    token: str = ""
    version: str = "auto"

    @property
    def source(self) -> InfluxSource:
        return InfluxSource(self.url.rstrip("/"), self.bucket, self.token)


def daily_energy(
    settings: InfluxSettings, plant: PlantConfig, first: date, last: date
) -> pd.DataFrame:
    """Stored energy and cost per line and local day, first..last (inclusive): columns day
    (datetime64), line, energy_kwh, cost. A reading counts on the local day its interval ends
    in; the days are kilowatch.query's (local midnights, across clock changes)."""
    query = (
        Query.energy(plant.id)
        .tz(plant.timezone)
        .between(first.isoformat(), (last + timedelta(days=1)).isoformat())
        .by("line")
        .every("1d")
    )
    runner = InfluxQLRunner(settings.url, settings.bucket, token=settings.token)
    try:
        sums = [run(runner, query.sum(field)).stack().rename(field) for field in FIELDS]
    except (QueryError, QueryRunError) as err:
        raise EtlError(f"cannot read the stored energy of plant {plant.id}: {err}") from None
    finally:
        runner.close()
    data = pd.concat(sums, axis=1).dropna(how="all").reset_index()
    if data.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in DAILY_COLUMNS}).astype(
            {"day": "datetime64[s]", "line": str}
        )
    day = pd.DatetimeIndex(data["time"]).tz_localize(None).astype("datetime64[s]")
    return data.assign(day=day, line=data["line"].astype(str))[DAILY_COLUMNS]


def write_points(
    settings: InfluxSettings, lines: list[str], what: str, *, progress: bool | None = None
) -> None:
    """Write every line, in batches, retrying what waiting can fix; EtlError otherwise.

    Points have deterministic timestamps and tags, so writing a file again after a failure
    rewrites the same points: nothing is doubled.
    """
    if not lines:
        return
    try:
        version = detect_version(settings.url) if settings.version == "auto" else settings.version
        writer = open_writer(
            InfluxTarget(settings.url, settings.bucket, settings.org, settings.token),
            "1" if version == "1" else "2",
        )
    except InfluxWriteError as err:
        raise EtlError(f"cannot write {what}: {err}") from None
    # Two writes in flight keep InfluxDB 1.x busy while the next batch travels (about 1.7x
    # the points/s of one at a time on this 2-core machine); batches are independent points.
    threads = WRITE_THREADS if version == "1" else 1
    batches = [lines[k : k + WRITE_BATCH] for k in range(0, len(lines), WRITE_BATCH)]
    try:
        with (
            Progress(f"writing {what}", len(lines), enabled=progress) as bar,
            ThreadPoolExecutor(threads) as pool,
        ):
            pending = {
                pool.submit(_write_batch, writer, batch, settings, what): batch for batch in batches
            }
            try:
                for done in as_completed(pending):
                    done.result()
                    bar.advance(len(pending[done]))
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    finally:
        writer.close()


def _write_batch(
    writer: InfluxWriter, batch: list[str], settings: InfluxSettings, what: str
) -> None:
    """One batch, retried while waiting can help."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            writer.write(batch)
            return
        except InfluxWriteError as err:
            refused = access_error(err, settings.url, settings.bucket)
            if refused is not None:
                raise refused from None
            if not err.retryable or attempt == WRITE_ATTEMPTS - 1:
                raise EtlError(
                    f"writing {what} failed ({err}); the points are deterministic: run the "
                    "same command again once InfluxDB accepts writes"
                ) from None
            logger.warning("write of %s failed (%s); retrying", what, err)
            time.sleep(2**attempt)
