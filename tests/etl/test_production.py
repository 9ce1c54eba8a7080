"""Production files: real CSV and Excel files, every kind of bad file, points and intensity."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kilowatch.config import PlantConfig, load_config
from kilowatch.etl import (
    EtlValidationError,
    daily_production,
    energy_intensity,
    intensity_points,
    production_points,
    validate_production,
)
from kilowatch.etl.errors import EtlError
from kilowatch.etl.frames import read_table
from kilowatch.etl.production import ALIASES
from tests.etl.samples import PLANT_FILE, write_csv, write_xlsx

HEADER = ["date", "line", "product", "units"]


def load(path: Path, plant: PlantConfig) -> pd.DataFrame:
    return validate_production(read_table(path, ALIASES), plant, str(path))


def problems(path: Path, plant: PlantConfig) -> EtlValidationError:
    with pytest.raises(EtlValidationError) as caught:
        load(path, plant)
    return caught.value


def test_a_csv_file_becomes_one_point_per_row_at_local_midnight(
    tmp_path: Path, sea: PlantConfig
) -> None:
    path = write_csv(
        tmp_path / "prod.csv",
        ["Date", "Line", "Product", "Units"],  # headers as people type them
        [
            ("2026-10-01", "assembly", "door panel", "120"),
            ("2026-10-02", "assembly", "hood", "80.5"),
        ],
    )
    rows = load(path, sea)
    assert rows["units"].tolist() == [120.0, 80.5]
    lines = production_points(rows, "sea")
    # 2026-10-01 00:00 in Seattle (PDT, UTC-7) is 07:00 UTC.
    midnight_ns = int(datetime.fromisoformat("2026-10-01T07:00:00+00:00").timestamp()) * 10**9
    assert lines[0] == (
        f"production,line=assembly,plant=sea,product=door\\ panel units=120.0 {midnight_ns}"
    )
    assert production_points(load(path, sea), "sea") == lines  # same file, same points


def test_an_excel_workbook_written_by_openpyxl_reads_like_the_csv(
    tmp_path: Path, sea: PlantConfig
) -> None:
    rows = [
        (date(2026, 11, 1), "assembly", "door", 100),
        (date(2026, 11, 1), "utilities", "air", 2.5),
        (date(2026, 11, 2), "assembly", "door", 90),
    ]
    excel = load(write_xlsx(tmp_path / "prod.xlsx", HEADER, rows), sea)
    csv = load(
        write_csv(tmp_path / "prod.csv", HEADER, [(d.isoformat(), *rest) for d, *rest in rows]),
        sea,
    )
    assert production_points(excel, "sea") == production_points(csv, "sea")
    assert excel.index.tolist() == [2, 3, 4]  # rows are named by their line in the file


def test_days_across_a_clock_change_start_at_local_midnight(
    tmp_path: Path, sea: PlantConfig
) -> None:
    path = write_csv(
        tmp_path / "p.csv",
        HEADER,
        [("2026-11-01", "assembly", "x", 1), ("2026-11-02", "assembly", "x", 1)],
    )
    ns = load(path, sea)["time_ns"].tolist()
    assert ns[1] - ns[0] == 25 * 3600 * 10**9  # 1 November 2026 has 25 hours in Seattle


def test_shift_starts_with_and_without_offsets_give_the_same_instants(
    tmp_path: Path, sea: PlantConfig
) -> None:
    header = ["start", "shift", "line", "product", "units"]
    local = write_csv(
        tmp_path / "local.csv",
        header,
        [
            ("2026-11-01T06:00", "A", "assembly", "x", 5),
            ("2026-11-01T22:00", "C", "assembly", "x", 3),
        ],
    )
    offset = write_csv(
        tmp_path / "offset.csv",
        header,
        [
            ("2026-11-01T06:00-08:00", "A", "assembly", "x", 5),
            ("2026-11-01T22:00-08:00", "C", "assembly", "x", 3),
        ],
    )
    utc = write_csv(
        tmp_path / "utc.csv",
        header,
        [
            ("2026-11-01T14:00Z", "A", "assembly", "x", 5),
            ("2026-11-02T06:00Z", "C", "assembly", "x", 3),
        ],
    )
    expected = load(local, sea)
    for other in (offset, utc):
        assert load(other, sea)["time_ns"].tolist() == expected["time_ns"].tolist()
    assert production_points(expected, "sea")[0].startswith(
        "production,line=assembly,plant=sea,product=x,shift=A units=5.0 "
    )
    # The night shift starting 22:00 local counts on its local day, not on UTC's.
    assert [d.date() for d in expected["day"]] == [date(2026, 11, 1)] * 2


def test_wrong_columns_are_named_with_the_columns_the_file_has(
    tmp_path: Path, sea: PlantConfig
) -> None:
    path = write_csv(
        tmp_path / "p.csv", ["when", "line", "amount"], [("2026-10-01", "assembly", 1)]
    )
    text = str(problems(path, sea))
    assert "column product: is missing (the file has: when, line, amount)" in text
    assert "column units: is missing" in text
    assert "column date or start: is missing" in text


def test_every_bad_row_of_every_kind_is_listed_in_one_error(
    tmp_path: Path, sea: PlantConfig
) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        HEADER,
        [
            ("2026-10-01", "assembly", "door", "12 pcs"),  # 2: text in a number
            ("2026-10-02", "assembly", "door", "10"),  # 3: duplicate of 4
            ("2026-10-02", "assembly", "door", "11"),  # 4: duplicate of 3
            ("2026-10-03", "painting", "door", "5"),  # 5: unknown line
            ("2026-10-01", "assembly", "door", "7"),  # 6: out of order (and a duplicate of 2)
            ("03/10/2026", "assembly", "hood", "1"),  # 7: not an ISO date
            ("2026-10-04", "assembly", "hood", "-3"),  # 8: negative
            ("2026-10-05", "assembly", "", "1"),  # 9: no product
        ],
    )
    error = problems(path, sea)
    found = {(p.column, p.rows) for p in error.problems}
    assert ("units", (2,)) in found
    assert ("line", (5,)) in found
    assert ("date", (7,)) in found
    assert ("units", (8,)) in found
    assert ("product", (9,)) in found
    by_problem = {p.problem: p.rows for p in error.problems}
    assert by_problem["repeats another row's time, line, product and shift (duplicate rows)"] == (
        2,
        3,
        4,
        6,
    )
    assert by_problem[
        "is earlier than a row above it of the same line and product (dates out of order)"
    ] == (6,)
    text = str(error)
    assert text.splitlines()[0].startswith(f"{path} has 7 problem(s) in 8 row(s); nothing")
    assert "column units: is not a number in row 2 (12 pcs)" in text
    assert "is not a line of plant sea (its lines: assembly, utilities) in row 5 (painting)" in text


def test_mixed_time_zones_are_refused_row_by_row(tmp_path: Path, sea: PlantConfig) -> None:
    path = write_csv(
        tmp_path / "mixed.csv",
        ["start", "line", "product", "units"],
        [
            ("2026-10-01T06:00-07:00", "assembly", "a", 1),
            ("2026-10-01T14:00-07:00", "assembly", "b", 1),
            ("2026-10-02T06:00", "assembly", "a", 1),  # no offset among rows with one
            ("2026-10-02T06:00-04:00", "assembly", "b", 1),  # New York's offset, not Seattle's
        ],
    )
    text = str(problems(path, sea))
    assert "has no UTC offset while the other rows have one (mixed time zones) in row 4" in text
    assert "not America/Los_Angeles's at that time, nor UTC (mixed time zones) in row 5" in text


def test_local_times_a_clock_change_skips_or_repeats_are_refused(
    tmp_path: Path, sea: PlantConfig
) -> None:
    path = write_csv(
        tmp_path / "dst.csv",
        ["start", "line", "product", "units"],
        [("2026-03-08T02:30", "assembly", "a", 1), ("2026-11-01T01:30", "assembly", "a", 1)],
    )
    error = problems(path, sea)
    assert [p.rows for p in error.problems] == [(2, 3)]
    assert "give it a UTC offset" in str(error)


def test_a_file_that_is_not_csv_or_excel_is_refused(tmp_path: Path, sea: PlantConfig) -> None:
    (tmp_path / "p.json").write_text("{}")
    with pytest.raises(EtlError, match=r"must be a \.csv or \.xlsx file"):
        read_table(tmp_path / "p.json")
    (tmp_path / "fake.xlsx").write_text("not a zip")
    with pytest.raises(EtlError, match="not an Excel workbook"):
        read_table(tmp_path / "fake.xlsx")


def test_blank_lines_keep_the_row_numbers_of_the_file(tmp_path: Path, sea: PlantConfig) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("date,line,product,units\n2026-10-01,assembly,a,1\n\n2026-10-02,assembly,a,x\n")
    error = problems(path, sea)
    assert [(p.column, p.rows) for p in error.problems] == [("units", (4,))]


def test_energy_intensity_joins_units_to_energy_per_line_and_day(sea: PlantConfig) -> None:
    validated = pd.DataFrame(
        {
            "time_ns": [0, 1, 2, 3],
            "day": pd.to_datetime(["2026-10-01", "2026-10-01", "2026-10-01", "2026-10-02"]),
            "line": ["assembly", "assembly", "utilities", "assembly"],
            "product": ["a", "b", "air", "a"],
            "shift": ["", "", "", ""],
            "units": [100.0, 50.0, 0.0, 40.0],
        }
    )
    energy = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-10-01", "2026-10-01"]),
            "line": ["assembly", "utilities"],
            "energy_kwh": [300.0, 20.0],
            "cost": [45.0, 3.0],
        }
    )
    result = energy_intensity(daily_production(validated), energy)
    first = result.iloc[0]
    assert (first["line"], first["units"], first["kwh_per_unit"]) == ("assembly", 150.0, 2.0)
    assert first["cost_per_unit"] == pytest.approx(0.3)
    utilities = result.iloc[1]
    assert utilities["energy_kwh"] == 20.0 and pd.isna(utilities["kwh_per_unit"])  # 0 units
    second_day = result.iloc[2]
    assert pd.isna(second_day["energy_kwh"])  # no stored energy that day
    lines = intensity_points(result, sea)
    assert len(lines) == 3
    assert lines[2].startswith("energy_intensity,line=assembly,plant=sea units=40.0 ")
    assert "kwh_per_unit" not in lines[1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 400),  # day offset
            st.sampled_from(["assembly", "utilities"]),
            st.sampled_from(["door", "hood", "air compressor, 7 bar"]),
            st.floats(0, 1e6, allow_nan=False),
        ),
        min_size=1,
        max_size=40,
        unique_by=lambda row: row[:3],
    ),
    st.data(),
)
def test_any_valid_table_loads_whole_and_one_bad_cell_is_found_at_its_row(
    rows: list[tuple[int, str, str, float]], data: st.DataObject
) -> None:
    plant = load_config(PLANT_FILE).plant_by_id["sea"]
    rows = sorted(rows)  # dates in order within every line and product
    first = date(2026, 1, 1)
    table = pd.DataFrame(
        {
            "date": [(first + timedelta(days=d)).isoformat() for d, *_ in rows],
            "line": [line for _, line, _, _ in rows],
            "product": [product for _, _, product, _ in rows],
            "units": [repr(units) for *_, units in rows],
        },
        index=range(2, len(rows) + 2),
    )
    loaded = validate_production(table, plant)
    assert loaded["units"].sum() == pytest.approx(sum(units for *_, units in rows))
    points = production_points(loaded, "sea")
    assert len(set(points)) == len(rows)  # one distinct point per row
    bad_row = data.draw(st.sampled_from(list(table.index)))
    table.loc[bad_row, "units"] = data.draw(st.sampled_from(["n/a", "12 pcs", "-1", ""]))
    with pytest.raises(EtlValidationError) as caught:
        validate_production(table, plant)
    assert [(p.column, p.rows) for p in caught.value.problems] == [("units", (bad_row,))]


def test_files_a_person_must_re_save_are_named_with_what_to_do(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("date,línea,units\n".encode("latin-1"))
    with pytest.raises(EtlError, match=r'is not UTF-8 text; save it as "CSV UTF-8"'):
        read_table(latin)
    twice = write_csv(tmp_path / "twice.csv", ["Units", "units", "line"], [(1, 2, "a")])
    with pytest.raises(EtlError, match="has the column"):
        read_table(twice)


def test_short_excel_rows_read_as_empty_cells(tmp_path: Path, sea: PlantConfig) -> None:
    path = write_xlsx(
        tmp_path / "short.xlsx",
        HEADER,
        [(date(2026, 10, 1), "assembly", "door", 3), (date(2026, 10, 2), "assembly")],
    )
    with pytest.raises(EtlValidationError) as caught:
        load(path, sea)
    assert {(p.column, p.problem, p.rows) for p in caught.value.problems} == {
        ("product", "is empty", (3,)),
        ("units", "is empty", (3,)),
    }
