"""`kilowatch etl ...` as people run it: one sentence and the bad rows, exit 2, no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kilowatch.cli import app
from tests.etl.samples import greenbutton_feed, write_csv
from tests.support.services import free_port, kilowatch_argv

HEADER = ["date", "line", "product", "units"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        kilowatch_argv("etl", *args), capture_output=True, text=True, timeout=120, check=False
    )


def test_a_bad_file_exits_2_listing_every_bad_row_without_a_traceback(
    tmp_path: Path, plant_file: Path
) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        HEADER,
        [("2026-10-01", "assembly", "a", "x"), ("2026-10-02", "welding", "a", "1")],
    )
    done = run("production", str(path), "--plant", "sea", "-c", str(plant_file), "--dry-run")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines[0] == (
        f"error: {path} has 2 problem(s) in 2 row(s); nothing was written: fix the file and "
        "run again"
    )
    assert lines[1] == "  column units: is not a number in row 2 (x)"
    assert lines[2].startswith("  column line: is not a line of plant sea")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_an_unreachable_influxdb_is_one_sentence(tmp_path: Path, plant_file: Path) -> None:
    path = write_csv(tmp_path / "ok.csv", HEADER, [("2026-10-01", "assembly", "a", "1")])
    url = f"http://127.0.0.1:{free_port()}"
    done = run(
        "production", str(path), "--plant", "sea", "-c", str(plant_file), "--influx-url", url
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot write 1 production points: InfluxDB at")
    assert "Traceback" not in done.stderr


def test_a_valid_file_passes_a_dry_run(tmp_path: Path, plant_file: Path) -> None:
    path = write_csv(tmp_path / "ok.csv", HEADER, [("2026-10-01", "assembly", "a", "1")])
    result = CliRunner().invoke(
        app, ["etl", "production", str(path), "--plant", "sea", "-c", str(plant_file), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "1 rows are valid (dry run: nothing written)" in result.output


def test_the_plant_must_be_named_when_the_plant_file_has_several(
    tmp_path: Path, plant_file: Path
) -> None:
    path = write_csv(tmp_path / "ok.csv", HEADER, [("2026-10-01", "assembly", "a", "1")])
    result = CliRunner().invoke(
        app, ["etl", "production", str(path), "-c", str(plant_file), "--dry-run"]
    )
    assert result.exit_code == 2
    assert "has several plants: pass --plant (hmo, sea)" in result.output


def test_a_green_button_file_is_checked_by_a_dry_run(tmp_path: Path, plant_file: Path) -> None:
    path = tmp_path / "usage.xml"
    path.write_bytes(greenbutton_feed([(1_790_000_000, 3600, 1000)]))
    result = CliRunner().invoke(
        app, ["etl", "bill", str(path), "--plant", "sea", "-c", str(plant_file), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "read (dry run: nothing written) 1 intervals of meter utility" in result.output


DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("kind", "name", "plant", "expected"),
    [
        ("production", "production-sea.csv", "sea", "15 rows are valid"),
        ("bill", "bills-sea.csv", "sea", "2 bills are valid"),
        ("bill", "greenbutton-sea-2026-10.xml", "sea", "48 intervals of meter utility"),
        ("enpi", "enpi-hmo.csv", "hmo", "press: CUSUM of savings"),
    ],
)
def test_the_committed_sample_files_are_valid(
    kind: str, name: str, plant: str, expected: str, plant_file: Path
) -> None:
    result = CliRunner().invoke(
        app, ["etl", kind, str(DATA / name), "--plant", plant, "-c", str(plant_file), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert expected in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--output", "/no/such/folder/out.csv"], "the folder /no/such/folder does not exist"),
        (["--log-level", "LOUD"], "--log-level must be one of"),
    ],
)
def test_option_mistakes_are_one_sentence_before_anything_is_read(
    tmp_path: Path, plant_file: Path, extra: list[str], message: str
) -> None:
    path = write_csv(tmp_path / "ok.csv", HEADER, [("2026-10-01", "assembly", "a", "1")])
    args = ["etl", "production", str(path), "--plant", "sea", "-c", str(plant_file), "--dry-run"]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_chart_file_matplotlib_cannot_write_is_refused_first(
    tmp_path: Path, plant_file: Path
) -> None:
    path = tmp_path / "missing.csv"  # the chart is refused before the file is even read
    args = ["etl", "enpi", str(path), "--plant", "sea", "-c", str(plant_file), "--dry-run"]
    result = CliRunner().invoke(app, [*args, "--chart", str(tmp_path / "chart.foo")])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --chart ") and ".png" in result.stderr


def test_a_folder_given_as_the_file_says_so(tmp_path: Path, plant_file: Path) -> None:
    args = ["etl", "production", str(tmp_path), "--plant", "sea", "-c", str(plant_file)]
    result = CliRunner().invoke(app, [*args, "--dry-run"])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path} is a folder: give the file inside it\n"


def test_the_output_csv_has_no_binary_noise(tmp_path: Path) -> None:
    out = tmp_path / "cusum.csv"
    sample = Path(__file__).parent / "data" / "enpi-hmo.csv"
    args = ["etl", "enpi", str(sample), "--plant", "hmo", "--baseline-end", "2026-01-20"]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    cells = [cell for line in out.read_text().splitlines()[1:] for cell in line.split(",")]
    digits = [cell.split("e")[0].lstrip("-").replace(".", "").lstrip("0") for cell in cells]
    assert cells and max(len(d) for d in digits) <= 12  # not 1907.1978414964497
