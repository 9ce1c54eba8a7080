"""The workflows' Lambda tasks (cdk/kilowatch_cdk/orchestration/runtime), run in-process
against moto's S3 and a real InfluxDB 1.x, with the example plant file.

What this cannot show: Lambda's own runtime (packaging, memory, timeouts, the VPC) and the
state machines calling these handlers (moto cannot run Lambda tasks without Docker).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pandas as pd
import pytest

from kilowatch.config import load_config
from kilowatch.influx.schema import LineLayout
from kilowatch.processing import Message, Processor
from kilowatch.sfn.explain import explain
from kilowatch.sfn.history import progress_of
from kilowatch.sfn.render import explanation_lines

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "cdk" / "kilowatch_cdk" / "orchestration" / "runtime"
PLANT_FILE = REPO / "config" / "kilowatch.example.yaml"
RESULTS, INGEST = "kilowatch-results", "kilowatch-ingest"


@pytest.fixture
def tasks(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The runtime module with moto S3 (both buckets made) and the example plant file."""
    from moto import mock_aws

    monkeypatch.syspath_prepend(str(RUNTIME))
    monkeypatch.setenv("KILOWATCH_RESULTS_BUCKET", RESULTS)
    monkeypatch.setenv("KILOWATCH_CONFIG", str(PLANT_FILE))
    monkeypatch.setenv("KILOWATCH_DISTRIBUTED_AFTER_DAYS", "62")
    import orchestration_tasks as module

    with mock_aws():
        for cached in (module.settings, module.s3, module.influx):
            cached.cache_clear()
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=RESULTS)
        client.create_bucket(Bucket=INGEST)
        yield module
    sys.modules.pop("orchestration_tasks", None)


@pytest.fixture
def influx_env(influxdb: Any, influx_db_name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the tasks at a fresh database of the test InfluxDB 1.x."""
    monkeypatch.setenv("KILOWATCH_INFLUX_URL", influxdb.url)
    monkeypatch.setenv("KILOWATCH_INFLUX_BUCKET", influx_db_name)
    monkeypatch.setenv("KILOWATCH_INFLUX_VERSION", "1")
    monkeypatch.setenv("KILOWATCH_INFLUX_TOKEN", "")
    return influx_db_name


def _upload(key: str, body: str) -> None:
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=INGEST, Key=key, Body=body)


def _object(key: str) -> bytes:
    return (
        boto3.client("s3", region_name="us-east-1")
        .get_object(Bucket=RESULTS, Key=key)["Body"]
        .read()
    )


PRODUCTION = (
    "date,line,product,units\n2026-10-05,assembly,widget,120\n2026-10-06,assembly,widget,130\n"
)


def test_validate_keeps_the_validated_rows_in_s3(tasks: ModuleType) -> None:
    _upload("uploads/sea/production/october.csv", PRODUCTION)
    result = tasks.validate(
        {"bucket": INGEST, "key": "uploads/sea/production/october.csv", "execution": "e1"}
    )
    summary = result["summary"]
    assert summary == {
        "plant": "sea",
        "kind": "production",
        "rows": 2,
        "key": "client-data/sea/e1/validated.parquet",
        "first_day": "2026-10-05",
        "last_day": "2026-10-06",
    }
    assert result["results"] == f"s3://{RESULTS}/client-data/sea/e1/validated.parquet"
    assert _object(summary["key"])[:4] == b"PAR1"
    assert len(json.dumps(result)) < 1024  # a small summary for the state machine


def test_a_bad_upload_fails_with_its_bad_rows_and_sfn_explain_lists_them(
    tasks: ModuleType,
) -> None:
    _upload("uploads/sea/production/bad.csv", PRODUCTION + "2026-10-07,assembly,widget,many\n")
    with pytest.raises(tasks.ValidationFailed) as caught:
        tasks.validate(
            {"bucket": INGEST, "key": "uploads/sea/production/bad.csv", "execution": "e"}
        )
    doc = json.loads(str(caught.value))
    assert doc["bad_rows"][0]["column"] == "units" and doc["bad_rows"][0]["rows"] == [4]
    explanation = _explained(str(caught.value))
    assert explanation.bad_rows[0]["rows"] == [4]
    assert "did not pass validation" in explanation.hint


def _explained(message: str) -> Any:
    """`kilowatch sfn explain` of an execution whose Validate task raised ValidationFailed with
    `message`, as the Python Lambda runtime reports it in a history Step Functions records."""
    cause = json.dumps({"errorType": "ValidationFailed", "errorMessage": message, "stackTrace": []})
    events = [
        {
            "id": 1,
            "previousEventId": 0,
            "type": "ExecutionStarted",
            "timestamp": 0,
            "executionStartedEventDetails": {"input": "{}"},
        },
        {
            "id": 2,
            "previousEventId": 1,
            "type": "TaskStateEntered",
            "timestamp": 1,
            "stateEnteredEventDetails": {"name": "Validate", "input": "{}"},
        },
        {
            "id": 3,
            "previousEventId": 2,
            "type": "TaskScheduled",
            "timestamp": 1,
            "taskScheduledEventDetails": {},
        },
        {
            "id": 4,
            "previousEventId": 3,
            "type": "TaskFailed",
            "timestamp": 2,
            "taskFailedEventDetails": {"error": "ValidationFailed", "cause": cause},
        },
        {
            "id": 5,
            "previousEventId": 4,
            "type": "ExecutionFailed",
            "timestamp": 3,
            "executionFailedEventDetails": {"error": "ValidationFailed", "cause": cause},
        },
    ]
    explanation = explain(progress_of(events))
    assert explanation is not None
    return explanation


def test_an_upload_outside_the_layout_is_refused(tasks: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"uploads/\{plant\}/\{kind\}/\{file\}"):
        tasks.parse_upload_key("uploads/sea/october.csv")


BILLS = (
    "Billing period,Energy (kWh),Demand (kW),Energy charge,Total amount\n"
    '2026-09,148210,270.4,"$13,920.11","$15,562.40"\n'
    '2026-10,153562,276.8,"$14,372.36","$15,967.04"\n'
)


def test_a_bills_upload_is_validated_as_bills(tasks: ModuleType) -> None:
    _upload("uploads/sea/bills/2026.csv", BILLS)
    result = tasks.validate(
        {"bucket": INGEST, "key": "uploads/sea/bills/2026.csv", "execution": "b"}
    )
    assert result["summary"] == {
        "plant": "sea",
        "kind": "bills",
        "rows": 2,
        "key": "client-data/sea/b/validated.parquet",
        "first_period": "2026-09",
        "last_period": "2026-10",
    }
    validated = pd.read_parquet(pd.io.common.BytesIO(_object(result["summary"]["key"])))
    assert validated["energy_charge"].tolist() == [13920.11, 14372.36]


def test_green_button_among_the_bills_is_the_utility_meter_s_intervals(tasks: ModuleType) -> None:
    """As `kilowatch etl bill usage.xml` does: the file's type decides (loaded, not reconciled)."""
    assert tasks.parse_upload_key("uploads/sea/bills/usage.XML") == (
        "sea",
        "greenbutton",
        "usage.XML",
    )
    assert tasks.parse_upload_key("uploads/sea/bills/2026.xlsx") == ("sea", "bills", "2026.xlsx")
    assert tasks.parse_upload_key("uploads/sea/greenbutton/u.xml")[1] == "greenbutton"


def test_a_bad_bills_upload_fails_with_its_bad_rows_and_sfn_explain_lists_them(
    tasks: ModuleType,
) -> None:
    bad = BILLS + "2026-13,150000,280,n/a,16000\n2026-10,1,1,1,1\n"
    _upload("uploads/sea/bills/bad.csv", bad)
    with pytest.raises(tasks.ValidationFailed) as caught:
        tasks.validate({"bucket": INGEST, "key": "uploads/sea/bills/bad.csv", "execution": "e"})
    rows = {(r["column"], tuple(r["rows"])) for r in json.loads(str(caught.value))["bad_rows"]}
    assert ("Billing period", (4,)) in rows  # 2026-13 is no month
    assert ("Energy charge", (4,)) in rows  # n/a is no amount
    assert any(column == "" and 5 in found for column, found in rows)  # 2026-10 twice
    assert _s3_keys(RESULTS) == []  # nothing kept
    explanation = _explained(str(caught.value))
    assert "did not pass validation" in explanation.hint
    text = "\n".join(explanation_lines(explanation))
    assert "Rows that failed validation" in text and "column=Billing period" in text


def _s3_keys(bucket: str) -> list[str]:
    listed = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_long_recost_range_goes_to_s3_for_the_distributed_map(tasks: ModuleType) -> None:
    short = tasks.plan_recost({"plant": "sea", "from": "2026-10-01", "to": "2026-10-08"})
    assert short["summary"]["count"] == 7 and short["summary"]["days_key"] is None
    assert short["summary"]["days"][0] == "2026-10-01"
    long = tasks.plan_recost(
        {"plant": "sea", "from": "2026-01-01", "to": "2027-01-01", "execution": "r1"}
    )
    summary = long["summary"]
    assert (summary["count"], summary["days"], summary["days_key"]) == (
        365,
        [],
        "recost/sea/r1/days.json",
    )
    assert json.loads(_object("recost/sea/r1/days.json"))[-1] == "2026-12-31"


def test_billing_plans_every_plant_of_the_month_just_ended(tasks: ModuleType) -> None:
    plan = tasks.plan_billing({"period": "2026-10"})["summary"]
    assert plan == {"period": "2026-10", "plants": sorted(load_config(PLANT_FILE).plant_by_id)}
    assert tasks.previous_month(pd.Timestamp("2026-11-02T06:00Z").to_pydatetime()) == "2026-10"


def _store_readings(influxdb: Any, db: str) -> None:
    """Three days of 15-minute readings of meter assembly-01 of plant sea, as the bridge
    stores them (kilowatch.processing costs them, kilowatch.influx.schema lays them out)."""
    start = int(pd.Timestamp("2026-10-05", tz="America/Los_Angeles").timestamp())
    payload = [
        {"ts": start + 900 * (k + 1), "energy_kwh": 10.0 + k % 4, "interval_s": 900}
        for k in range(3 * 96)
    ]
    messages = [Message("kilowatch/sea/assembly-01/readings", json.dumps(payload).encode(), 0.0)]
    processed = Processor(load_config(PLANT_FILE)).process(messages, now=start + 4 * 86_400)
    lines = [line for batch in LineLayout().batch_lines(processed, messages) for line in batch]
    influxdb.write(db, lines, precision="ns")


@pytest.mark.integration
def test_client_data_load_and_indicators_write_influx_and_s3(
    tasks: ModuleType, influxdb: Any, influx_env: str
) -> None:
    _store_readings(influxdb, influx_env)
    _upload("uploads/sea/production/october.csv", PRODUCTION)
    validated = tasks.validate(
        {"bucket": INGEST, "key": "uploads/sea/production/october.csv", "execution": "e2"}
    )["summary"]
    loaded = tasks.load({"validated": validated, "execution": "e2"})
    assert loaded["summary"] == {"plant": "sea", "points": 2}
    result = tasks.indicators({"validated": validated, "execution": "e2"})
    assert result["summary"]["line_days"] == 2
    intensity = pd.read_csv(
        pd.io.common.BytesIO(_object("client-data/sea/e2/energy-intensity.csv"))
    )
    assert intensity["kwh_per_unit"].notna().all()


@pytest.mark.integration
def test_bill_plant_writes_json_csv_and_png(
    tasks: ModuleType, influxdb: Any, influx_env: str
) -> None:
    _store_readings(influxdb, influx_env)
    result = tasks.bill_plant({"plant": "sea", "period": "2026-10", "execution": "b1"})
    assert result["results"] == f"s3://{RESULTS}/billing/2026-10/sea/"
    bill = json.loads(_object("billing/2026-10/sea/bill.json"))
    assert bill["total"] == pytest.approx(result["summary"]["total"]) and bill["total"] > 0
    assert _object("billing/2026-10/sea/bill.png")[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"," in _object("billing/2026-10/sea/bill.csv")


@pytest.mark.integration
def test_recost_day_rewrites_the_days_points(
    tasks: ModuleType, influxdb: Any, influx_env: str
) -> None:
    _store_readings(influxdb, influx_env)
    result = tasks.recost_day({"plant": "sea", "day": "2026-10-06", "execution": "r"})
    assert result["summary"] == {"plant": "sea", "day": "2026-10-06", "points": 96}


def _kilowatch_bill(month: str) -> pd.Series:
    """kilowatch's own bill of `month` from the readings _store_readings stores, as components."""
    from kilowatch.billing import compute_bill
    from kilowatch.etl.bills import bill_components
    from kilowatch.etl.commands import plant_costing, resolve_plant

    start = int(pd.Timestamp("2026-10-05", tz="America/Los_Angeles").timestamp())
    readings = pd.DataFrame(
        {
            "ts": [start + 900 * (k + 1) for k in range(3 * 96)],
            "energy_kwh": [10.0 + k % 4 for k in range(3 * 96)],
            "interval_s": 900,
        }
    )
    costing = plant_costing(resolve_plant(PLANT_FILE, "sea"))
    return bill_components([compute_bill(costing, readings, month)]).iloc[0]


@pytest.mark.integration
def test_a_bills_upload_is_reconciled_and_the_summary_names_the_flagged_amounts(
    tasks: ModuleType, influxdb: Any, influx_env: str
) -> None:
    _store_readings(influxdb, influx_env)
    ours = _kilowatch_bill("2026-10")
    table = (
        "period,energy_kwh,energy_charge,fixed_charge,total\n"
        "2026-09,100,,,\n"  # no readings stored in September: flagged, named
        f"2026-10,{ours['energy_kwh']},{round(ours['energy_charge'] * 1.1, 2)},"
        f"{ours['fixed_charge']},{ours['total']}\n"  # the utility billed 10 % more energy
    )
    _upload("uploads/sea/bills/2026.csv", table)
    validated = tasks.validate(
        {"bucket": INGEST, "key": "uploads/sea/bills/2026.csv", "execution": "r2"}
    )["summary"]
    result = tasks.reconcile({"validated": validated, "execution": "r2"})
    summary = result["summary"]
    assert result["results"] == f"s3://{RESULTS}/client-data/sea/r2/bill-reconciliation.csv"
    assert (summary["periods"], summary["amounts"], summary["points"]) == (2, 5, 5)
    assert summary["threshold_percent"] == 2.0 and summary["without_readings"] == ["2026-09"]
    flagged = [(f["period"], f["component"]) for f in summary["flagged"]]
    assert flagged == [("2026-09", "energy_kwh"), ("2026-10", "energy_charge")]
    assert summary["flagged_count"] == 2
    assert summary["flagged"][1]["difference_percent"] == pytest.approx(-9.09, abs=0.01)
    json.dumps(summary, allow_nan=False)  # Step Functions takes no NaN
    points = influxdb.query(
        'SELECT * FROM "bill_reconciliation" WHERE "billing_period" = \'2026-10\' '
        'GROUP BY "component"',
        influx_env,
    )
    assert {p["component"]: p["flagged"] for p in points} == {
        "energy_kwh": False,
        "energy_charge": True,
        "fixed_charge": False,
        "total": False,
    }
    table_csv = pd.read_csv(
        pd.io.common.BytesIO(_object("client-data/sea/r2/bill-reconciliation.csv"))
    )
    assert len(table_csv) == 5 and int(table_csv["flagged"].sum()) == 2
    done = tasks.summarize(
        {
            "workflow": "client-data",
            "execution": "r2",
            "steps": {
                "bucket": INGEST,
                "validate": {"summary": validated, "results": None},
                "reconcile": result,
            },
        }
    )
    assert done["summary"] == (
        "kilowatch reconciled 2 bill(s) of plant sea: 2 of 5 amounts differ by more than 2 %: "
        "2026-09 energy_kwh (-100.0 %), 2026-10 energy_charge (-9.1 %); "
        "no readings stored for 2026-09"
    )


def test_summarize_writes_the_manifest_and_one_line(tasks: ModuleType) -> None:
    steps = {
        "plan": {"summary": {"period": "2026-10", "plants": ["hmo", "sea"]}, "results": None},
        "bills": [
            {
                "summary": {"plant": "hmo", "total": 1000.0},
                "results": "s3://r/billing/2026-10/hmo/",
            },
            {"summary": {"plant": "sea", "total": 234.5}, "results": "s3://r/billing/2026-10/sea/"},
        ],
    }
    result = tasks.summarize({"workflow": "monthly-billing", "execution": "m1", "steps": steps})
    assert result["summary"] == "kilowatch billed 2 plant(s) for 2026-10: 1,234.50 in total"
    manifest = json.loads(_object("runs/monthly-billing/m1.json"))
    assert manifest["steps"]["bills"][1]["results"] == "s3://r/billing/2026-10/sea/"


def test_the_token_comes_from_the_storage_secret(tasks: ModuleType) -> None:
    secret = json.dumps({"url": "http://influx:8086", "org": "kilowatch", "token": "t0k"})
    assert tasks.token_of(secret) == "t0k"
    assert tasks.token_of("bare-token") == "bare-token"
