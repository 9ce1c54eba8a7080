"""Real client files for the ETL tests: Green Button ESPI feeds, CSV and Excel workbooks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kilowatch.config import KilowatchConfig
from kilowatch.influx.schema import LineLayout
from kilowatch.processing import Message, Processor
from tests.support.services import REPO_ROOT, InfluxDB1

PLANT_FILE = REPO_ROOT / "config" / "kilowatch.example.yaml"
ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"


def greenbutton_feed(
    intervals: Sequence[tuple[int, int, int]],
    *,
    power_of_ten: int = 0,
    uom: int = 72,
    flow_direction: int = 1,
    block_s: int = 86_400,
) -> bytes:
    """A Green Button (ESPI 1.1) usage feed of one electricity usage point whose meter reading
    holds `intervals` (start Unix s, duration s, value in Wh x 10^power_of_ten), one
    IntervalBlock per `block_s`, as utilities' Download My Data files lay it out."""
    blocks: dict[int, list[tuple[int, int, int]]] = {}
    for start, duration, value in intervals:
        blocks.setdefault(start - start % block_s, []).append((start, duration, value))
    base = "RetailCustomer/9b6c7063/UsagePoint/01"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<feed xmlns="{ATOM}" xmlns:espi="{ESPI}">',
        "<id>urn:uuid:0f4b2c1e-8a55-4e1f-9f4e-1c2d3e4f5a6b</id>",
        "<title>Green Button Usage Feed</title>",
        "<updated>2026-11-02T00:00:00Z</updated>",
        '<link rel="self" href="/espi/1_1/resource/Batch/Subscription/5"/>',
        "<entry><id>urn:uuid:1</id>",
        f'<link rel="self" href="{base}"/>',
        '<link rel="up" href="RetailCustomer/9b6c7063/UsagePoint"/>',
        f'<link rel="related" href="{base}/MeterReading"/>',
        '<link rel="related" href="LocalTimeParameters/01"/>',
        "<title>Main service meter</title>",
        '<content><UsagePoint xmlns="http://naesb.org/espi">'
        "<ServiceCategory><kind>0</kind></ServiceCategory><status>1</status>"
        "</UsagePoint></content>",
        "<published>2026-11-02T00:00:00Z</published><updated>2026-11-02T00:00:00Z</updated>",
        "</entry>",
        "<entry><id>urn:uuid:2</id>",
        '<link rel="self" href="LocalTimeParameters/01"/>',
        '<link rel="up" href="LocalTimeParameters"/>',
        "<title>DST For North America</title>",
        '<content><LocalTimeParameters xmlns="http://naesb.org/espi">'
        "<dstEndRule>B40E2000</dstEndRule><dstOffset>3600</dstOffset>"
        "<dstStartRule>360E2000</dstStartRule><tzOffset>-28800</tzOffset>"
        "</LocalTimeParameters></content>",
        "</entry>",
        "<entry><id>urn:uuid:3</id>",
        f'<link rel="self" href="{base}/MeterReading/01"/>',
        f'<link rel="up" href="{base}/MeterReading"/>',
        f'<link rel="related" href="{base}/MeterReading/01/IntervalBlock"/>',
        '<link rel="related" href="ReadingType/07"/>',
        "<title>Hourly Electricity Consumption</title>",
        '<content><MeterReading xmlns="http://naesb.org/espi"/></content>',
        "</entry>",
        "<entry><id>urn:uuid:4</id>",
        '<link rel="self" href="ReadingType/07"/>',
        '<link rel="up" href="ReadingType"/>',
        "<title>Energy Delivered (kWh)</title>",
        '<content><ReadingType xmlns="http://naesb.org/espi">'
        "<accumulationBehaviour>4</accumulationBehaviour><commodity>1</commodity>"
        "<currency>840</currency><dataQualifier>12</dataQualifier>"
        f"<flowDirection>{flow_direction}</flowDirection><intervalLength>3600</intervalLength>"
        "<kind>12</kind><phase>769</phase>"
        f"<powerOfTenMultiplier>{power_of_ten}</powerOfTenMultiplier>"
        f"<timeAttribute>0</timeAttribute><uom>{uom}</uom>"
        "</ReadingType></content>",
        "</entry>",
    ]
    for k, (block_start, rows) in enumerate(sorted(blocks.items()), start=1):
        parts += [
            f"<entry><id>urn:uuid:ib{k}</id>",
            f'<link rel="self" href="{base}/MeterReading/01/IntervalBlock/{k:04d}"/>',
            f'<link rel="up" href="{base}/MeterReading/01/IntervalBlock"/>',
            '<content><IntervalBlock xmlns="http://naesb.org/espi">',
            f"<interval><duration>{block_s}</duration><start>{block_start}</start></interval>",
        ]
        for start, duration, value in rows:
            parts.append(
                "<IntervalReading><timePeriod>"
                f"<duration>{duration}</duration><start>{start}</start>"
                f"</timePeriod><value>{value}</value></IntervalReading>"
            )
        parts += ["</IntervalBlock></content>", "</entry>"]
    parts.append("</feed>")
    return "\n".join(parts).encode("utf-8")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    """A CSV file as a client's spreadsheet exports it."""
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    """An Excel workbook written by openpyxl (dates as real date cells, numbers as numbers)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Data"
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


ZONE = "America/Los_Angeles"  # plant sea of the example plant file
FIRST = pd.Timestamp("2026-10-01", tz=ZONE)  # readings from here ...
LAST = pd.Timestamp("2026-11-03", tz=ZONE)  # ... to here, across the 25-hour 1 November
INTERVAL_S = 900
METERS = {"assembly-01": ("assembly", 30.0), "lighting": ("utilities", 4.0)}


def sea_readings() -> pd.DataFrame:
    """15-minute readings of two meters of plant sea: a base load plus a day shift."""
    ts = np.arange(int(FIRST.timestamp()) + INTERVAL_S, int(LAST.timestamp()) + 1, INTERVAL_S)
    hour = pd.to_datetime(ts - INTERVAL_S, unit="s", utc=True).tz_convert(ZONE).hour.to_numpy()
    frames = []
    for meter, (line, base) in METERS.items():
        energy = base + base * ((hour >= 6) & (hour < 18)) + (ts % 7) * 0.1
        frames.append(
            pd.DataFrame({"meter": meter, "line": line, "ts": ts, "energy_kwh": energy.round(3)})
        )
    return pd.concat(frames, ignore_index=True)


def store_readings(influxdb: InfluxDB1, db: str, config: KilowatchConfig) -> pd.DataFrame:
    """sea_readings() published as MQTT payloads would be, costed by kilowatch.processing and
    laid out by kilowatch.influx.schema, as the bridge stores them; returns the readings."""
    data = sea_readings()
    messages = []
    for meter, rows in data.groupby("meter"):
        for start in range(0, len(rows), 500):
            chunk = rows.iloc[start : start + 500]
            payload = [
                {"ts": int(t), "energy_kwh": float(e), "interval_s": INTERVAL_S}
                for t, e in zip(chunk["ts"], chunk["energy_kwh"], strict=True)
            ]
            messages.append(
                Message(f"kilowatch/sea/{meter}/readings", json.dumps(payload).encode(), 0.0)
            )
    processed = Processor(config).process(messages, now=float(LAST.timestamp()) + 60)
    assert processed.rejected == 0
    lines = [line for batch in LineLayout().batch_lines(processed, messages) for line in batch]
    influxdb.write(db, lines, precision="ns")
    return data


def local_day_energy(data: pd.DataFrame) -> pd.Series:
    """Energy per local day and line, a reading counted on the day its interval ends in."""
    end = pd.to_datetime(data["ts"] - 1, unit="s", utc=True).dt.tz_convert(ZONE)
    day = end.dt.tz_localize(None).dt.normalize()
    return data.groupby([day.rename("day"), data["line"]])["energy_kwh"].sum()
