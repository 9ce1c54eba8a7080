"""InfluxDB adapter of the ETLs: stored energy per line and local day in, client points out.

Reads use InfluxQL over `/query` (InfluxDB 1.x, and 2.x's v1 API with a DBRP mapping) through
the billing reader; writes go through kilowatch.influx.writer (1.x, 2.x, 3.x).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from kilowatch.config import PlantConfig
from kilowatch.etl.errors import EtlError
from kilowatch.etl.progress import Progress
from kilowatch.influx.reader import InfluxReader, InfluxSource
from kilowatch.influx.schema import ENERGY
from kilowatch.influx.writer import (
    InfluxTarget,
    InfluxWriteError,
    InfluxWriter,
    access_error,
    detect_version,
    open_writer,
)

logger = logging.getLogger(__name__)

WRITE_BATCH = 5_000
WRITE_THREADS = 2
WRITE_ATTEMPTS = 4
# Readings are summed in 15-minute buckets shifted by 1 s, so a bucket holds the readings whose
# interval ENDS in (t, t + 15 min]: a reading ending at 00:00 belongs to the day before. Every
# time zone's offset is a multiple of 15 minutes.
BUCKET = "15m"
BUCKET_OFFSET = "1s"


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


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _midnight(day: date, plant: PlantConfig) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=plant.zone).timestamp())


def daily_energy(
    settings: InfluxSettings, plant: PlantConfig, first: date, last: date
) -> pd.DataFrame:
    """Stored energy and cost per line and local day, first..last (inclusive): columns day
    (datetime64), line, energy_kwh, cost. A reading counts on the local day its interval ends."""
    start = _midnight(first, plant)
    end = _midnight(last + timedelta(days=1), plant)
    query = (
        f'SELECT sum("energy_kwh") AS "energy_kwh", sum("cost") AS "cost" FROM "{ENERGY}" '
        f'WHERE "plant" = {_quote(plant.id)} AND time > {start}s AND time <= {end}s '
        f'GROUP BY time({BUCKET}, {BUCKET_OFFSET}), "line" fill(none)'
    )
    reader = InfluxReader(settings.source)
    frames = []
    try:
        for series in reader.series(query):
            frame = pd.DataFrame(series.get("values", []), columns=series["columns"])
            frame["line"] = series.get("tags", {}).get("line", "")
            frames.append(frame)
    finally:
        reader.close()
    columns = ["day", "line", "energy_kwh", "cost"]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}).astype(
            {"day": "datetime64[s]", "line": str}
        )
    data = pd.concat(frames, ignore_index=True)
    # A bucket [t + 1 s, t + 15 min + 1 s) holds readings ending in (t, t + 15 min]: its day is
    # the local day of t + 1 s.
    local = pd.to_datetime(data["time"].to_numpy(np.int64), unit="s", utc=True).tz_convert(
        plant.zone
    )
    data["day"] = local.tz_localize(None).normalize().astype("datetime64[s]")
    summed = data.groupby(["day", "line"], as_index=False, sort=True)[["energy_kwh", "cost"]].sum()
    return summed[columns]


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
