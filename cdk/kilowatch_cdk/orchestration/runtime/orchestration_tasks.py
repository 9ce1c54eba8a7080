"""The workflows' Lambda tasks: thin glue around kilowatch's ETL and billing functions.

Each handler takes the state's input, writes its results to the results bucket and returns
{"summary": small JSON, "results": "s3://..." or None}: the state machine keeps only that.
Errors: a bad upload raises ValidationFailed (its message is JSON with the bad rows, which
`kilowatch sfn explain` lists); InfluxDB or S3 answering 5xx/429 raises TransientError, which
the state machine retries with backoff; anything else fails the task as it is.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, wraps
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TypeVar

logger = logging.getLogger(__name__)

UploadKind = Literal["production", "bills", "greenbutton"]
UPLOAD_KINDS: tuple[UploadKind, ...] = ("production", "bills", "greenbutton")
GREEN_BUTTON_METER = "utility"
MAX_BAD_ROWS = 50  # a Lambda error message must stay small (the cause field holds 32 KiB)
MAX_FLAGGED = 24  # flagged amounts named in a summary (two years of totals); the CSV has all
_TRANSIENT_S3 = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"}

Event = dict[str, Any]
Result = dict[str, Any]
Handler = TypeVar("Handler", bound=Callable[..., Result])


class TransientError(RuntimeError):
    """A dependency failed in a way waiting can fix; the state machine retries the task."""


class ValidationFailed(ValueError):
    """The upload failed validation; the message is JSON: {"message", "bad_rows"}."""


@dataclass(frozen=True)
class TaskSettings:
    """The tasks' settings, from the function's environment (read once per container)."""

    results_bucket: str
    config: Path
    influx_url: str
    influx_bucket: str
    influx_org: str
    influx_version: str
    influx_token_secret_arn: str
    distributed_after_days: int
    bill_threshold_percent: float | None  # None: kilowatch.etl.bills.DEFAULT_THRESHOLD_PERCENT

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> TaskSettings:
        """Settings from KILOWATCH_* variables; KeyError names a missing one."""
        env = dict(os.environ) if env is None else env
        return cls(
            results_bucket=env["KILOWATCH_RESULTS_BUCKET"],
            config=Path(env["KILOWATCH_CONFIG"]),
            influx_url=env.get("KILOWATCH_INFLUX_URL", ""),
            influx_bucket=env.get("KILOWATCH_INFLUX_BUCKET", "kilowatch"),
            influx_org=env.get("KILOWATCH_INFLUX_ORG", "kilowatch"),
            influx_version=env.get("KILOWATCH_INFLUX_VERSION", "auto"),
            influx_token_secret_arn=env.get("KILOWATCH_INFLUX_TOKEN_SECRET_ARN", ""),
            distributed_after_days=int(env.get("KILOWATCH_DISTRIBUTED_AFTER_DAYS", "62")),
            bill_threshold_percent=(
                float(env["KILOWATCH_BILL_THRESHOLD_PERCENT"])
                if env.get("KILOWATCH_BILL_THRESHOLD_PERCENT")
                else None
            ),
        )


@cache
def settings() -> TaskSettings:
    """This container's settings."""
    return TaskSettings.from_env()


@cache
def s3() -> Any:
    """The S3 client (boto3 is in the Lambda runtime)."""
    import boto3

    return boto3.client("s3")


@cache
def influx() -> Any:
    """kilowatch.etl's InfluxSettings, the token read once from Secrets Manager."""
    import boto3

    from kilowatch.etl.influx import InfluxSettings

    conf = settings()
    token = os.environ.get("KILOWATCH_INFLUX_TOKEN", "")
    if not token and conf.influx_token_secret_arn:
        secrets = boto3.client("secretsmanager")
        token = token_of(
            secrets.get_secret_value(SecretId=conf.influx_token_secret_arn)["SecretString"]
        )
    return InfluxSettings(
        conf.influx_url, conf.influx_bucket, conf.influx_org, token, conf.influx_version
    )


def token_of(secret_string: str) -> str:
    """The token in the InfluxDB secret: its "token" key (set by the storage setup), or the
    whole string when the secret is a bare token."""
    try:
        doc = json.loads(secret_string)
    except ValueError:
        return secret_string
    return str(doc.get("token", "")) if isinstance(doc, dict) else secret_string


def task(handler: Handler) -> Handler:
    """Turn errors waiting can fix into TransientError (retried by the state machine)."""

    @wraps(handler)
    def run(event: Event, context: object = None) -> Result:
        import requests
        from botocore.exceptions import ClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        try:
            return handler(event, context)
        except (requests.ConnectionError, requests.Timeout, BotoConnectionError) as err:
            raise TransientError(f"{type(err).__name__}: {err}") from err
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in _TRANSIENT_S3:
                raise TransientError(str(err)) from err
            raise

    return run  # type: ignore[return-value]


def _uri(key: str) -> str:
    return f"s3://{settings().results_bucket}/{key}"


def _put(key: str, body: bytes | str, content_type: str) -> str:
    data = body.encode() if isinstance(body, str) else body
    s3().put_object(Bucket=settings().results_bucket, Key=key, Body=data, ContentType=content_type)
    return _uri(key)


def parse_upload_key(key: str) -> tuple[str, UploadKind, str]:
    """uploads/{plant}/{kind}/{file} -> (plant, kind, file); ValueError says the layout.

    As `kilowatch etl bill` does, a Green Button file (.xml) among the bills is the utility
    meter's intervals, not a bills table: its kind is greenbutton.
    """
    from kilowatch.etl.commands import GREEN_BUTTON_SUFFIXES

    parts = PurePosixPath(key).parts
    kinds: dict[str, UploadKind] = {kind: kind for kind in UPLOAD_KINDS}
    kind = kinds.get(parts[2]) if len(parts) == 4 else None
    if kind is None or parts[0] != "uploads":
        raise ValueError(
            f"upload {key!r} is not uploads/{{plant}}/{{kind}}/{{file}} with kind one of "
            f"{', '.join(UPLOAD_KINDS)}"
        )
    if kind == "bills" and PurePosixPath(parts[3]).suffix.lower() in GREEN_BUTTON_SUFFIXES:
        kind = "greenbutton"
    return parts[1], kind, parts[3]


def validation_message(err: Any) -> str:
    """EtlValidationError as the JSON message `kilowatch sfn explain` reads (bad rows)."""
    rows = [
        {
            "column": problem.column,
            "problem": problem.problem,
            "rows": list(problem.rows[:MAX_BAD_ROWS]),
            "values": list(problem.values),
        }
        for problem in err.problems[:MAX_BAD_ROWS]
    ]
    first_line = str(err).splitlines()[0]
    return json.dumps({"message": first_line, "bad_rows": rows})


def _plant(plant_id: str) -> Any:
    from kilowatch.etl.commands import resolve_plant

    return resolve_plant(settings().config, plant_id)


def _work_key(*parts: str) -> str:
    return "/".join(parts)


# --- client data ---------------------------------------------------------------------------


@task
def validate(event: Event, context: object = None) -> Result:
    """Read the uploaded file, validate it (pandera), keep the validated rows as Parquet."""
    from kilowatch.etl import bills, production
    from kilowatch.etl.errors import EtlValidationError
    from kilowatch.etl.frames import read_table
    from kilowatch.etl.greenbutton import read_greenbutton, validate_intervals

    plant_id, kind, name = parse_upload_key(event["key"])
    plant = _plant(plant_id)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        s3().download_file(event["bucket"], event["key"], str(path))
        try:
            if kind == "production":
                validated = production.validate_production(
                    read_table(path, production.ALIASES), plant, name
                )
            elif kind == "bills":
                validated = bills.validate_bills(read_table(path, bills.ALIASES), plant, name)
            else:
                validated = validate_intervals(read_greenbutton(path), name)
        except EtlValidationError as err:
            raise ValidationFailed(validation_message(err)) from None
        out = Path(folder) / "validated.parquet"
        validated.to_parquet(out)
        key = _work_key("client-data", plant_id, event["execution"], "validated.parquet")
        results = _put(key, out.read_bytes(), "application/vnd.apache.parquet")
    summary: dict[str, Any] = {"plant": plant_id, "kind": kind, "rows": len(validated), "key": key}
    if kind == "production":
        summary["first_day"] = validated["day"].min().date().isoformat()
        summary["last_day"] = validated["day"].max().date().isoformat()
    elif kind == "bills":
        summary["first_period"] = str(validated["billing_period"].min())
        summary["last_period"] = str(validated["billing_period"].max())
    return {"summary": summary, "results": results}


def _validated(summary: dict[str, Any]) -> Any:
    import pandas as pd

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "validated.parquet"
        s3().download_file(settings().results_bucket, summary["key"], str(path))
        return pd.read_parquet(path)


@task
def load(event: Event, context: object = None) -> Result:
    """Write the validated rows to InfluxDB (production, or costed utility intervals)."""
    from kilowatch.etl import production
    from kilowatch.etl.commands import plant_costing
    from kilowatch.etl.greenbutton import intervals_points
    from kilowatch.etl.influx import write_points

    summary = event["validated"]
    plant = _plant(summary["plant"])
    frame = _validated(summary)
    if summary["kind"] == "production":
        lines = production.production_points(frame, plant.id)
    else:
        lines = intervals_points(frame, plant_costing(plant), plant.id, GREEN_BUTTON_METER)
    write_points(influx(), lines, f"{len(lines)} {summary['kind']} points", progress=False)
    return {"summary": {"plant": plant.id, "points": len(lines)}, "results": None}


@task
def indicators(event: Event, context: object = None) -> Result:
    """Energy intensity per line and day of the uploaded production: to InfluxDB and S3 (CSV)."""
    from kilowatch.etl import production
    from kilowatch.etl.influx import daily_energy, write_points

    summary = event["validated"]
    if summary["kind"] != "production":
        return {"summary": {"skipped": f"no indicators for {summary['kind']}"}, "results": None}
    plant = _plant(summary["plant"])
    frame = _validated(summary)
    first, last = date.fromisoformat(summary["first_day"]), date.fromisoformat(summary["last_day"])
    intensity = production.energy_intensity(frame, daily_energy(influx(), plant, first, last))
    write_points(influx(), production.intensity_points(intensity, plant), "energy intensity")
    key = _work_key("client-data", plant.id, event["execution"], "energy-intensity.csv")
    results = _put(key, intensity.to_csv(index=False, date_format="%Y-%m-%d"), "text/csv")
    missing = int(intensity["energy_kwh"].isna().sum())
    return {"summary": {"line_days": len(intensity), "without_energy": missing}, "results": results}


@task
def reconcile(event: Event, context: object = None) -> Result:
    """The utility's bills against kilowatch's (from the stored readings), per billing period
    and component: `bill_reconciliation` points to InfluxDB, the table to S3 (CSV)."""
    from kilowatch.billing import compute_bill, lookback_months
    from kilowatch.billing.periods import parse_period, shifted
    from kilowatch.etl import bills
    from kilowatch.etl.commands import plant_costing
    from kilowatch.etl.influx import write_points
    from kilowatch.influx.reader import InfluxReader

    summary = event["validated"]
    plant = _plant(summary["plant"])
    costing = plant_costing(plant)
    read_day = costing.tariff.billing.read_day
    utility = _validated(summary)
    labels = [str(label) for label in utility["billing_period"]]
    periods = sorted(
        (parse_period(label, costing.zone, read_day) for label in labels), key=lambda p: p.start_ts
    )
    # The ratchets look back: kilowatch's bill of the first period needs the months before it.
    first = shifted(periods[0], -lookback_months(costing), costing.zone, read_day)
    reader = InfluxReader(influx().source)
    try:
        readings = reader.readings(plant.id, first.start_ts, periods[-1].end_ts)
    finally:
        reader.close()
    computed = [
        compute_bill(costing, readings, label, scope=f"plant {plant.id}") for label in labels
    ]
    threshold = settings().bill_threshold_percent
    reconciled = bills.reconcile(
        utility,
        bills.bill_components(computed),
        bills.DEFAULT_THRESHOLD_PERCENT if threshold is None else threshold,
    )
    lines = bills.reconciliation_points(reconciled, plant, read_day)
    write_points(influx(), lines, f"{len(lines)} reconciliation points", progress=False)
    key = _work_key("client-data", plant.id, event["execution"], "bill-reconciliation.csv")
    results = _put(key, reconciled.to_csv(index=False), "text/csv")
    return {
        "summary": reconciliation_summary(
            reconciled, plant.id, len(lines), [b.period.label for b in computed if not b.readings]
        ),
        "results": results,
    }


def reconciliation_summary(
    reconciled: Any, plant_id: str, points: int, without_readings: list[str]
) -> dict[str, Any]:
    """The reconciliation's small summary: counts, and the flagged amounts by period and
    component (the first MAX_FLAGGED; NaN percentages, where the utility billed 0, as null)."""
    flagged = reconciled[reconciled["flagged"]]
    named = [
        {
            "period": str(row["billing_period"]),
            "component": str(row["component"]),
            "utility": _number(row["utility"]),
            "kilowatch": _number(row["kilowatch"]),
            "difference_percent": _number(row["difference_percent"]),
        }
        for row in flagged.head(MAX_FLAGGED).to_dict("records")
    ]
    threshold = float(reconciled["threshold_percent"].iloc[0]) if len(reconciled) else None
    return {
        "plant": plant_id,
        "periods": int(reconciled["billing_period"].nunique()),
        "amounts": len(reconciled),
        "points": points,
        "threshold_percent": threshold,
        "flagged_count": len(flagged),
        "flagged": named,
        "without_readings": without_readings,
    }


def _number(value: Any) -> float | None:
    """A float for JSON: NaN (which Step Functions cannot parse) as None, rounded to cents."""
    number = float(value)
    return None if number != number else round(number, 2)


# --- monthly billing ----------------------------------------------------------------------------


def previous_month(now: datetime) -> str:
    """'2026-10' when `now` is in November 2026."""
    first = now.replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


@task
def plan_billing(event: Event, context: object = None) -> Result:
    """The period to bill (given, or the month just ended) and every plant of the plant file."""
    from kilowatch.config import load_config

    period = event.get("period") or "previous"
    if period == "previous":
        period = previous_month(datetime.now(UTC))
    plants = sorted(load_config(settings().config).plant_by_id)
    return {"summary": {"period": period, "plants": plants}, "results": None}


@task
def bill_plant(event: Event, context: object = None) -> Result:
    """One plant's bill for the period: bill.json, bill.csv and bill.png to S3."""
    from kilowatch.billing import compute_bill, lookback_months
    from kilowatch.billing.chart import draw_chart
    from kilowatch.billing.periods import parse_period, shifted
    from kilowatch.billing.render import bill_csv, bill_json
    from kilowatch.etl.commands import plant_costing
    from kilowatch.influx.reader import InfluxReader

    plant = _plant(event["plant"])
    costing = plant_costing(plant)
    read_day = costing.tariff.billing.read_day
    target = parse_period(event["period"], costing.zone, read_day)
    first = shifted(target, -lookback_months(costing), costing.zone, read_day)
    reader = InfluxReader(influx().source)
    try:
        readings = reader.readings(plant.id, first.start_ts, target.end_ts)
    finally:
        reader.close()
    bill = compute_bill(costing, readings, target, scope=f"plant {plant.id}")
    prefix = _work_key("billing", event["period"], plant.id)
    _put(f"{prefix}/bill.json", bill_json(bill), "application/json")
    _put(f"{prefix}/bill.csv", bill_csv(bill), "text/csv")
    with tempfile.TemporaryDirectory() as folder:
        chart = Path(folder) / "bill.png"
        draw_chart(costing, bill, readings, chart)
        _put(f"{prefix}/bill.png", chart.read_bytes(), "image/png")
    summary = {"plant": plant.id, "period": event["period"], "total": bill.total}
    return {"summary": summary, "results": _uri(prefix + "/")}


# --- recost ---------------------------------------------------------------------------------------


def days_between(start: str, end: str) -> list[str]:
    """Local days from `start` up to `end` (excluded), as YYYY-MM-DD."""
    first, stop = date.fromisoformat(start), date.fromisoformat(end)
    if stop <= first:
        raise ValueError(f"'to' ({end}) must come after 'from' ({start})")
    return [(first + timedelta(days=k)).isoformat() for k in range((stop - first).days)]


@task
def plan_recost(event: Event, context: object = None) -> Result:
    """The days of the range; a long list goes to S3 for the Distributed Map to read."""
    plant = _plant(event["plant"])
    days = days_between(event["from"], event["to"])
    summary: dict[str, Any] = {
        "plant": plant.id,
        "count": len(days),
        "days": days,
        "days_key": None,
    }
    if len(days) > settings().distributed_after_days:
        key = _work_key("recost", plant.id, event.get("execution", "manual"), "days.json")
        _put(key, json.dumps(days), "application/json")
        summary.update(days=[], days_key=key)
    return {"summary": summary, "results": None}


@task
def recost_day(event: Event, context: object = None) -> Result:
    """Cost one local day of a plant's stored readings again, rewriting them in place."""
    from kilowatch.billing.recost import recost
    from kilowatch.etl.commands import plant_costing
    from kilowatch.influx.reader import InfluxReader
    from kilowatch.influx.schema import stored_energy_lines
    from kilowatch.influx.writer import (
        InfluxTarget,
        RetryPolicy,
        detect_version,
        open_writer,
        write_with_retry,
    )

    plant = _plant(event["plant"])
    costing = plant_costing(plant)
    day = date.fromisoformat(event["day"])
    start_ts = int(datetime(day.year, day.month, day.day, tzinfo=plant.zone).timestamp())
    after = day + timedelta(days=1)
    end_ts = int(datetime(after.year, after.month, after.day, tzinfo=plant.zone).timestamp())
    conf = influx()
    version = detect_version(conf.url) if conf.version == "auto" else conf.version
    version = "1" if version == "1" else "2"
    reader = InfluxReader(conf.source)
    writer = open_writer(InfluxTarget(conf.url, conf.bucket, conf.org, conf.token), version)
    try:
        points = reader.points(plant.id, start_ts, end_ts)
        lines = stored_energy_lines(
            points, recost(costing, points), costing.tariff.key, reader.field_types()
        )
        if lines:
            # Points keep their timestamps and tags: writing them again replaces them; the
            # delete first removes points whose period tag (a series key) changes.
            reader.delete_energy(plant.id, start_ts, end_ts, version=version, org=conf.org)
            write_with_retry(writer, lines, RetryPolicy(initial_s=1.0, max_s=8.0, max_attempts=5))
    finally:
        reader.close()
        writer.close()
    return {
        "summary": {"plant": plant.id, "day": event["day"], "points": len(lines)},
        "results": None,
    }


# --- every workflow ---------------------------------------------------------------------


def _collect(steps: Any) -> dict[str, Any]:
    """The summaries of a run's steps (a Map's items: a list of them)."""
    found: dict[str, Any] = {}
    for name, value in (steps or {}).items():
        if isinstance(value, dict) and "summary" in value:
            found[name] = {"summary": value["summary"], "results": value.get("results")}
        elif isinstance(value, list):
            found[name] = [
                {"summary": item.get("summary"), "results": item.get("results")}
                for item in value
                if isinstance(item, dict)
            ]
    return found


def headline(workflow: str, steps: dict[str, Any]) -> str:
    """One sentence for the notification."""
    if workflow == "monthly-billing":
        bills = steps.get("bills") or []
        total = sum(float((b.get("summary") or {}).get("total", 0.0)) for b in bills)
        period = (steps.get("plan") or {}).get("summary", {}).get("period", "?")
        return f"kilowatch billed {len(bills)} plant(s) for {period}: {total:,.2f} in total"
    if workflow == "recost":
        plan = (steps.get("plan") or {}).get("summary", {})
        return f"kilowatch re-costed {plan.get('count', '?')} day(s) of plant {plan.get('plant')}"
    validated = (steps.get("validate") or {}).get("summary", {})
    if validated.get("kind") == "bills":
        return _reconciliation_headline(validated, (steps.get("reconcile") or {}).get("summary"))
    loaded = (steps.get("load") or {}).get("summary", {})
    return (
        f"kilowatch loaded {validated.get('rows', '?')} {validated.get('kind', '')} rows of "
        f"plant {validated.get('plant')} ({loaded.get('points', '?')} points)"
    )


def _reconciliation_headline(validated: dict[str, Any], reconciled: dict[str, Any] | None) -> str:
    """'kilowatch reconciled 2 bill(s) of plant sea: 1 of 8 amounts differ by more than 2 %:
    2026-10 energy_charge (+10.0 %)'."""
    if not reconciled:
        plant = validated.get("plant")
        return f"kilowatch validated {validated.get('rows', '?')} bill(s) of plant {plant}"
    line = (
        f"kilowatch reconciled {reconciled['periods']} bill(s) of plant {reconciled['plant']}: "
        f"{reconciled['flagged_count']} of {reconciled['amounts']} amounts differ by more than "
        f"{reconciled['threshold_percent']:g} %"
    )
    named = [
        f"{item['period']} {item['component']}"
        + (
            f" ({item['difference_percent']:+.1f} %)"
            if item["difference_percent"] is not None
            else " (utility billed 0)"
            if item["kilowatch"] is not None
            else " (kilowatch has no amount)"
        )
        for item in reconciled["flagged"]
    ]
    more = reconciled["flagged_count"] - len(named)
    if named:
        line += ": " + ", ".join(named) + (f" and {more} more" if more > 0 else "")
    if reconciled.get("without_readings"):
        line += f"; no readings stored for {', '.join(reconciled['without_readings'])}"
    return line


@task
def summarize(event: Event, context: object = None) -> Result:
    """Write the run's manifest (every step's summary and results) to S3; one line back."""
    steps = _collect(event.get("steps"))
    line = headline(event["workflow"], steps)
    manifest = {"workflow": event["workflow"], "execution": event["execution"], "steps": steps}
    key = _work_key("runs", event["workflow"], f"{event['execution']}.json")
    results = _put(key, json.dumps(manifest, indent=2, default=str), "application/json")
    return {"summary": line, "results": results}
