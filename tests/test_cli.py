"""The `kilowatch` command: one entry point whose subcommands reach each component."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from kilowatch.tariff import parse_tariff
from tests.support.services import REPO_ROOT, InfluxDB1, kilowatch_argv


def kilowatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        kilowatch_argv(*args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
    )


def test_every_subcommand_is_listed() -> None:
    done = kilowatch("--help")
    assert done.returncode == 0
    for command in ("bridge", "simulate", "agent", "bill", "recost", "import-urdb", "dashboards"):
        assert command in done.stdout


def test_unknown_plant_is_an_error_sentence() -> None:
    done = kilowatch("bill", "--plant", "nowhere", "--period", "2026-10")
    assert done.returncode == 2
    assert done.stderr.startswith("error: plant 'nowhere' is not in")


@pytest.mark.integration
def test_bill_as_json_from_stored_readings(influxdb: InfluxDB1, influx_db_name: str) -> None:
    # 2026-10-05 (a Monday) 12:00-13:00 Seattle time (UTC-7): peak hours, 12 × 5 kWh.
    tags = "line=assembly,meter=assembly-01,period=peak,plant=sea,tariff=t@1"
    start = 1_791_226_800 + 300  # 2026-10-05T19:00:00Z + 5 min
    influxdb.write(
        influx_db_name,
        [f"energy,{tags} energy_kwh=5.0,interval_s=300i {start + 300 * i}" for i in range(12)],
    )
    done = kilowatch(
        *("bill", "--plant", "sea", "--period", "2026-10", "--format", "json"),
        env={"KILOWATCH_INFLUX_URL": influxdb.url, "KILOWATCH_INFLUX_BUCKET": influx_db_name},
    )
    assert done.returncode == 0, done.stderr
    bill = json.loads(done.stdout)
    assert (bill["period"], bill["currency"], bill["energy_kwh"]) == ("2026-10", "USD", 60.0)
    energy_lines = [line for line in bill["lines"] if line["kind"] == "energy"]
    assert sum(line["amount"] for line in energy_lines) == pytest.approx(60 * 0.1091, abs=0.01)
    assert bill["total"] == pytest.approx(sum(bill["by_kind"].values()), abs=0.01)


def test_urdb_import_writes_a_tariff_that_loads(tmp_path: Path) -> None:
    source = next((REPO_ROOT / "config" / "tariffs" / "urdb").glob("*.json"))
    out = tmp_path / "imported.yaml"
    done = kilowatch("import-urdb", str(source), "--out", str(out), "--id", "imported")
    assert done.returncode == 0, done.stderr
    tariff = parse_tariff(yaml.safe_load(out.read_text()))
    assert tariff.id == "imported" and tariff.currency == "USD"
