"""`kilowatch query`: a table, a CSV or Parquet file, the rendered queries, one-line errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from kilowatch.cli.main import app
from kilowatch.query import InfluxQLRunner, Query, run
from tests.query.conftest import PLANT_FILE, Stored
from tests.support.services import kilowatch_argv

RANGE = ["--from", "2026-10-28", "--to", "2026-11-05"]


def invoke(*args: str) -> tuple[int, str, str]:
    env = {"COLUMNS": "200", "KILOWATCH_INFLUX_TOKEN": ""}
    result = CliRunner().invoke(app, ["query", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def server(stored: Stored) -> list[str]:
    return ["--url", stored.influx.url, "--database", stored.database, "-c", str(PLANT_FILE)]


@pytest.mark.integration
def test_prints_a_table_of_the_query(stored: Stored) -> None:
    code, out, err = invoke(
        "energy", "--plant", "sea", *RANGE, "--by", "line", "--every", "1d", *server(stored)
    )
    assert code == 0, err
    assert "energy_kwh (kWh), America/Los_Angeles" in out
    assert "assembly" in out and "utilities" in out
    assert "2026-11-01 00:00:00-07:00" in out and "2026-11-02 00:00:00-08:00" in out


@pytest.mark.integration
def test_a_table_wider_than_the_terminal_keeps_every_number_whole(stored: Stored) -> None:
    args = ["energy", "--plant", "hmo", *RANGE, "--by", "meter", *server(stored)]
    result = CliRunner().invoke(app, ["query", *args], env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.stderr
    expected = run(
        InfluxQLRunner(stored.influx.url, stored.database),
        Query.energy("hmo").using(PLANT_FILE).between("2026-10-28", "2026-11-05").by("meter"),
    )
    for meter, value in expected.iloc[0].items():
        assert str(meter) in result.stdout and f"{value:,.3f}" in result.stdout
    assert "…" not in result.stdout


@pytest.mark.integration
def test_a_range_without_readings_says_so(stored: Stored) -> None:
    empty = ["--from", "2020-01-01", "--to", "2020-02-01"]
    code, out, err = invoke("energy", "--plant", "sea", *empty, "--every", "1d", *server(stored))
    assert code == 0, err
    assert out.startswith("no stored readings match this query")


@pytest.mark.integration
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_writes_csv_or_parquet(stored: Stored, tmp_path: Path, suffix: str) -> None:
    out_file = tmp_path / f"demand{suffix}"
    code, _, err = invoke(
        "demand",
        "--plant",
        "hmo",
        *RANGE,
        "--by",
        "line",
        "--every",
        "1d",
        *server(stored),
        "--out",
        str(out_file),
    )
    assert code == 0, err
    expected = run(
        InfluxQLRunner(stored.influx.url, stored.database),
        Query.demand("hmo").using(PLANT_FILE).between(*RANGE[1::2]).by("line").every("1d"),
    )
    if suffix == ".csv":
        written = pd.read_csv(out_file, index_col="time")
        assert list(written.index) == [str(t) for t in expected.index]
    else:
        written = pd.read_parquet(out_file)
        assert written.index.equals(expected.index)
    assert written.to_numpy() == pytest.approx(expected.to_numpy())


@pytest.mark.integration
def test_a_query_the_server_refuses_is_one_line(stored: Stored) -> None:
    args = ["--url", stored.influx.url, "--database", "no_such_db", "-c", str(PLANT_FILE)]
    code, _, err = invoke("energy", "--plant", "hmo", *RANGE, *args)
    assert code == 2
    assert err.startswith("error: InfluxDB at ") and "database not found" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.integration
def test_flux_against_influxdb1_says_flux_needs_2x(stored: Stored) -> None:
    code, _, err = invoke("energy", "--plant", "hmo", *RANGE, *server(stored), "--dialect", "flux")
    assert code == 2
    assert err.startswith("error: ") and "Flux needs InfluxDB 2.x" in err
    assert len(err.strip().splitlines()) == 1  # influxdb-client's pivot() advice is not shown


def test_a_missing_option_through_the_installed_command_is_one_line() -> None:
    """The real entry point (not CliRunner): typer's usage errors become `error: ...`, exit 2."""
    done = subprocess.run(
        kilowatch_argv("query", "energy", *RANGE, "-c", str(PLANT_FILE)),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KILOWATCH_INFLUX_TOKEN": ""},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: missing option '--plant'")
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


def test_show_query_prints_every_dialect_without_a_server() -> None:
    code, out, err = invoke(
        "top",
        "--plant",
        "hmo",
        *RANGE,
        "--n",
        "3",
        "-c",
        str(PLANT_FILE),
        "--url",
        "http://127.0.0.1:9",
        "--show-query",
    )
    assert code == 0, err
    assert out.count("-- ") >= 3
    assert "-- influxql" in out and "-- flux" in out and "-- sql" in out
    assert "limit(n: 3)" in out and "LIMIT 3" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["energy", "--plant", "hmo", *RANGE, "--every", "7d"], "every='7d'"),
        (["energy", "--plant", "nope", *RANGE], "not in the plant file"),
        (["energy", "--plant", "hmo", *RANGE, "--where", "line"], "TAG=VALUE"),
        (["energy", "--plant", "hmo", *RANGE, "--dialect", "promql"], "influxql, flux or sql"),
        (["energy", "--plant", "hmo", *RANGE, "--out", "x.xlsx"], ".csv or .parquet"),
        (["energy", "--plant", "hmo", *RANGE, "--url", "http://127.0.0.1:9"], "did not answer"),
        (["bill", "--plant", "hmo", "--plant", "sea", *RANGE], "exactly one --plant"),
        (["energy", "--plant", "hmo", *RANGE, "--dialect", "sql"], "set KILOWATCH_INFLUX_TOKEN"),
        (["top", "--plant", "hmo", *RANGE, "--n", "0"], "top 1 or more"),
        (["top", "--plant", "hmo", *RANGE, "--by", "building"], "group by one of"),
        (["demand", "--plant", "hmo", *RANGE, "--window", "abc"], "window='abc'"),
        (["energy", "--plant", "hmo", *RANGE, "--out", "/no/such/dir/x.csv"], "does not exist"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    code, out, err = invoke(*args, "-c", str(PLANT_FILE))
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err


def test_the_plant_file_defaults_to_the_example_like_every_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's `kilowatch query energy -p hmo ...` gives neither -c nor KILOWATCH_CONFIG."""
    monkeypatch.chdir(PLANT_FILE.parent.parent)
    monkeypatch.delenv("KILOWATCH_CONFIG", raising=False)
    code, out, err = invoke("energy", "--plant", "hmo", *RANGE, "--show-query")
    assert code == 0, err
    assert "America/Hermosillo" in out


def test_takes_the_influx_flags_of_bill_and_recost() -> None:
    code, _, err = invoke(
        "energy",
        "--plant",
        "hmo",
        *RANGE,
        "-c",
        str(PLANT_FILE),
        "--influx-url",
        "http://127.0.0.1:9",
        "--influx-bucket",
        "kilowatch",
        "--influx-org",
        "kilowatch",
    )
    assert code == 2
    assert err.startswith("error: ") and "did not answer" in err


def test_csv_numbers_leave_without_binary_noise(tmp_path: Path) -> None:
    from kilowatch.cli.query import _write

    frame = pd.DataFrame({"power_kw": [0.1 + 0.2, 227.88625000000002]})
    out = tmp_path / "x.csv"
    _write(frame, out)
    assert out.read_text().splitlines()[1:] == ["0,0.3", "1,227.88625"]
