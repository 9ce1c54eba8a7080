"""Green Button (NAESB ESPI) interval data: the utility meter's readings, parsed safely and
costed through the plant's tariff like any meter's readings.

The XML is parsed with defusedxml (uploads are untrusted: no entities, no DTDs, no external
references), then read by greenbutton-objects' ESPI resource classes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from kilowatch.etl.errors import EtlError
from kilowatch.etl.frames import pa, validate
from kilowatch.influx.schema import utility_energy_lines
from kilowatch.tariff import PlantTariff

ESPI_NAMESPACE = "http://naesb.org/espi"
WATT_HOURS = 72  # ESPI UomType wattHours
FORWARD = 1  # ESPI FlowDirectionType forward: energy delivered to the customer
INTERVAL_COLUMNS = ["ts", "interval_s", "energy_kwh"]


def parse_greenbutton(data: bytes, source: str = "the Green Button file") -> pd.DataFrame:
    """Interval readings of energy delivered (Wh, any power of ten) as columns ts (end of the
    interval, Unix s), interval_s, energy_kwh, in time order; EtlError if there are none."""
    from greenbutton_objects import resources, utils

    try:
        root = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as err:
        raise EtlError(
            f"{source} was refused: it declares a DTD or entities ({type(err).__name__}), "
            "which Green Button files never need"
        ) from None
    except ParseError as err:
        raise EtlError(f"{source} is not well-formed XML: {err}") from None
    if not root.findall(f".//{{{ESPI_NAMESPACE}}}IntervalBlock"):
        raise EtlError(f"{source} is not Green Button data: no ESPI ({ESPI_NAMESPACE}) elements")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entries = "atom:entry/atom:content/espi:{}/../.."
        points = [
            resources.UsagePoint(e) for e in root.findall(entries.format("UsagePoint"), utils.ns)
        ]
        readings = [
            resources.MeterReading(e, usagePoints=points)
            for e in root.findall(entries.format("MeterReading"), utils.ns)
        ]
        for entry in root.findall(entries.format("ReadingType"), utils.ns):
            resources.ReadingType(entry, meterReadings=readings)
        for entry in root.findall(entries.format("IntervalBlock"), utils.ns):
            resources.IntervalBlock(entry, meterReadings=readings)
    rows: list[tuple[int, int, float]] = []
    for reading in readings:
        kind = reading.readingType
        if kind is None or kind.uom is None or kind.uom.value != WATT_HOURS:
            continue
        if kind.flowDirection is not None and kind.flowDirection.value != FORWARD:
            continue
        for interval in reading.intervalReadings:
            start = int(interval.timePeriod.start.timestamp())
            seconds = int(interval.timePeriod.duration.total_seconds())
            rows.append((start + seconds, seconds, float(interval.value) / 1000.0))
    if not rows:
        raise EtlError(
            f"{source} has no interval readings of energy delivered in Wh (ESPI ReadingType "
            "uom 72, flowDirection 1)"
        )
    frame = pd.DataFrame(rows, columns=INTERVAL_COLUMNS)
    frame.index = pd.RangeIndex(1, len(frame) + 1)  # problems name the n-th interval reading
    return frame


def read_greenbutton(path: Path) -> pd.DataFrame:
    """parse_greenbutton of a file."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise EtlError(f"{path} cannot be read: {err.strerror}") from None
    return parse_greenbutton(data, str(path))


INTERVALS_SCHEMA = pa.DataFrameSchema(
    {
        "ts": pa.Column("int64"),
        "interval_s": pa.Column(
            "int64", pa.Check(lambda s: s > 0, error="is not a positive interval length")
        ),
        "energy_kwh": pa.Column(
            "float64",
            pa.Check(lambda s: (s >= 0) & np.isfinite(s), error="is negative or not finite"),
        ),
    },
    checks=[
        pa.Check(
            lambda f: ~f["ts"].duplicated(keep=False),
            error="repeats another interval's end time (duplicate readings)",
        ),
    ],
)


def validate_intervals(frame: pd.DataFrame, source: str = "the intervals") -> pd.DataFrame:
    """Interval readings checked (positive lengths, energy >= 0, each end time once), sorted."""
    checked = validate(INTERVALS_SCHEMA, frame, source)
    return checked.sort_values("ts", ignore_index=True)[INTERVAL_COLUMNS]


def intervals_points(
    intervals: pd.DataFrame, tariff: PlantTariff, plant_id: str, meter: str
) -> list[str]:
    """The intervals costed by the plant's tariff (as the bridge costs readings), as
    `utility_energy` points of `meter`."""
    ts = intervals["ts"].to_numpy(np.int64)
    length = intervals["interval_s"].to_numpy(np.int64)
    energy = intervals["energy_kwh"].to_numpy(np.float64)
    costed = tariff.cost_many(ts, length, energy)
    return utility_energy_lines(
        plant_id,
        meter,
        tariff.tariff.key,
        costed.period.tolist(),
        ts.tolist(),
        length.tolist(),
        energy.tolist(),
        costed.cost.tolist(),
        costed.rate.tolist(),
    )
