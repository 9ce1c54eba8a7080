"""Reading client files into text tables, and turning schema failures into a person's list.

Every loader reads cells as text (so that "12 pcs" in a number column is reported, not
guessed), names columns in snake_case, and indexes rows by their line number in the file
(header = row 1), which is how problems name them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from kilowatch.etl.errors import EtlError, EtlValidationError, Problem

with warnings.catch_warnings():
    # pandera warns once that typeguard < 3 (pinned by jsii) checks only a generic's first item.
    warnings.simplefilter("ignore", UserWarning)
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
MISSING_COLUMN_CHECK = "column_in_dataframe"
NOT_NULLABLE_CHECK = "not_nullable"
_NON_WORD = re.compile(r"[^0-9a-z]+")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)

HEADERS = "headers"  # DataFrame.attrs key: column name -> the file's header text
Explain = Callable[[str], str]
"""Says why one raw cell could not be parsed ("is not a number")."""


def snake(name: object) -> str:
    """'Energy (kWh)' -> 'energy_kwh'."""
    return _NON_WORD.sub("_", str(name).strip().lower()).strip("_")


def _cell_text(value: Any) -> str:
    """An Excel cell as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _excel_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    # openpyxl parses the workbook's XML through defusedxml when it is installed (it is here).
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for a file that is not a workbook
        raise EtlError(
            f"{path} is not an Excel workbook (.xlsx) openpyxl can read: {err}"
        ) from None
    try:
        yield from book.worksheets[0].iter_rows(values_only=True)
    finally:
        book.close()


def read_table(path: Path, aliases: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A CSV or Excel file (first sheet) as text cells, snake_case columns (aliases applied),
    blank rows dropped, indexed by file row number (header = 1)."""
    suffix = path.suffix.lower()
    if path.is_dir():
        raise EtlError(f"{path} is a folder: give the file inside it")
    if not path.is_file():
        raise EtlError(f"{path} does not exist")
    if suffix in CSV_SUFFIXES:
        try:
            frame = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                sep="\t" if suffix == ".tsv" else ",",
                encoding="utf-8-sig",  # Excel's "CSV UTF-8" starts with a byte-order mark
            )
        except UnicodeDecodeError:
            raise EtlError(
                f'{path} is not UTF-8 text; save it as "CSV UTF-8" (or as .xlsx) and try again'
            ) from None
        except (ValueError, pd.errors.ParserError) as err:
            raise EtlError(f"{path} cannot be read as CSV: {err}") from None
        frame = frame.fillna("")
    elif suffix in EXCEL_SUFFIXES:
        rows = _excel_rows(path)
        header = next(rows, None)
        if header is None:
            raise EtlError(f"{path} has no header row")
        names = [_cell_text(cell) for cell in header]
        width = len(names)
        body = [[_cell_text(cell) for cell in (*row, *[None] * width)[:width]] for row in rows]
        frame = pd.DataFrame(body, columns=names, dtype=str)
    else:
        raise EtlError(f"{path} must be a .csv or .xlsx file, not {suffix or 'without suffix'}")
    names = [_alias(snake(c), aliases or {}) for c in frame.columns]
    twice = sorted({n for n in names if n and names.count(n) > 1})
    if twice:
        raise EtlError(f"{path} has the column(s) {', '.join(twice)} more than once")
    # Problems name columns as the file's header does ("Energy (MWh)"), not as renamed here.
    frame.attrs[HEADERS] = {new: str(old) for new, old in zip(names, frame.columns, strict=True)}
    frame.columns = names
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    if not len(frame.columns):
        return frame
    # A blank line has every cell empty: look at all columns only where the first one is.
    maybe = frame.index[frame.iloc[:, 0].str.strip() == ""]
    blank = maybe[(frame.loc[maybe] == "").all(axis=1)] if len(maybe) else maybe
    return frame.drop(index=blank) if len(blank) else frame


def _alias(name: str, aliases: Mapping[str, str]) -> str:
    return aliases.get(name, name)


def renamed(frame: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """Columns renamed (aliases, unit columns), the file's header text kept for problems."""
    names = {old: new for old, new in names.items() if old in frame.columns}
    if not names:
        return frame
    headers = dict(frame.attrs.get(HEADERS, {}))
    out = frame.rename(columns=names)
    out.attrs[HEADERS] = {names.get(k, k): v for k, v in headers.items()}
    return out


def check_columns(
    frame: pd.DataFrame,
    source: str,
    required: Sequence[str],
    one_of: Sequence[Sequence[str]] = (),
) -> None:
    """Stop early, naming every missing column and the columns the file has."""
    present = set(frame.columns)
    problems = [
        Problem(name, f"is missing (the file has: {', '.join(frame.columns) or 'no columns'})", ())
        for name in required
        if name not in present
    ]
    for choice in one_of:
        if not present & set(choice):
            problems.append(
                Problem(" or ".join(choice), "is missing: the file needs one of them", ())
            )
    if problems:
        raise EtlValidationError(source, problems)


def validate(
    schema: pa.DataFrameSchema,
    raw: pd.DataFrame,
    source: str,
    explain: Mapping[str, Explain] | None = None,
) -> pd.DataFrame:
    """The schema's parsed frame, or EtlValidationError listing every failure (lazy=True)."""
    try:
        return schema.validate(raw, lazy=True)
    except SchemaErrors as err:
        raise EtlValidationError(source, problems_of(err.failure_cases, raw, explain)) from None


def problems_of(
    failures: pd.DataFrame, raw: pd.DataFrame, explain: Mapping[str, Explain] | None = None
) -> list[Problem]:
    """pandera's failure cases grouped into Problems: one per column and reason, every row."""
    explain = explain or {}
    found: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for case in failures.itertuples(index=False):
        check = str(case.check)
        row = case.index
        if check == MISSING_COLUMN_CHECK:
            found.setdefault((str(case.failure_case), "is missing"), [])
            continue
        if case.schema_context == "DataFrameSchema":
            column = ""  # a whole-row check: report the row once, not once per column
            value = ""
        else:
            column = str(case.column)
            value = _raw(raw, row, column)
            if check == NOT_NULLABLE_CHECK:
                check = "is empty" if value == "" else explain.get(column, _unreadable)(value)
        if row is None or pd.isna(row):
            found.setdefault((column, check), [])
            continue
        found.setdefault((column, check), []).append((int(row), value))
    headers: Mapping[str, str] = raw.attrs.get(HEADERS, {})
    problems = []
    for (column, check), cases in found.items():
        rows = tuple(sorted({row for row, _ in cases}))
        values = tuple(dict.fromkeys(v for _, v in sorted(cases) if v))
        problems.append(Problem(headers.get(column, column), check, rows, values))
    return sorted(problems, key=lambda p: (p.rows[:1] or (0,), p.column, p.problem))


def _unreadable(_: str) -> str:
    return "cannot be read"


def _raw(raw: pd.DataFrame, row: Any, column: str) -> str:
    if row is None or column not in raw.columns:
        return ""
    try:
        return str(raw.at[row, column])
    except KeyError:
        return ""


def numbers(values: pd.Series) -> pd.Series:
    """Text cells as float64 (NaN where not a number); '1,234.5' and ' 12 ' are read too."""
    text = values.astype(str).str.strip().str.replace(",", "", regex=False)
    return pd.to_numeric(text, errors="coerce").astype("float64")


def explain_number(value: str) -> str:
    return "is not a number"


def _parse_day(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None or moment.time() != time(0):
        return None
    return moment


def days(values: pd.Series) -> pd.Series:
    """'2026-10-01' (or an Excel date: '2026-10-01 00:00:00') as datetime64 days; NaT otherwise."""
    unique = pd.unique(values)
    parsed = {text: _parse_day(str(text)) for text in unique}
    return pd.Series(pd.to_datetime(values.map(parsed)), index=values.index).astype("datetime64[s]")


def explain_day(value: str) -> str:
    text = value.strip()
    if _OFFSET.search(text) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return "is a time with a UTC offset where a day (YYYY-MM-DD) is expected"
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return "is not a date such as 2026-10-01"
    return "has a time of day; give the day alone, or use a start column for shifts"


def local_midnights(days_local: pd.Series, zone: Any) -> pd.Series:
    """Unix nanoseconds of 00:00 local on each day (where midnight is skipped: the jump)."""
    unique = pd.DatetimeIndex(pd.unique(days_local.dropna()))
    aware = unique.tz_localize(zone, nonexistent="shift_forward", ambiguous=True)
    mapping = dict(zip(unique, aware.as_unit("ns").asi8, strict=True))
    return days_local.map(mapping).astype("int64")


class Instants:
    """Parses date-times of one file: naive ones are plant-local; ones with an offset must
    carry the plant's offset at that instant (or all be UTC); mixing the two is refused.

    The file's kind ("naive", "utc" or "local-offset": what most of its values are) is decided
    from the whole column first, so each value is judged against the file, not alone.
    """

    def __init__(self, zone: Any, values: pd.Series | None = None) -> None:
        self.zone = zone
        self.kind = "naive" if values is None else self.kind_of(values)

    @staticmethod
    def _one(text: str) -> datetime | None:
        try:
            return datetime.fromisoformat(text.strip().replace("z", "Z"))
        except ValueError:
            return None

    @classmethod
    def kind_of(cls, values: pd.Series) -> str:
        """What most of a column's readable values are: 'naive', 'utc' or 'local-offset'."""
        parsed = [cls._one(str(text)) for text in pd.unique(values)]
        aware = [m for m in parsed if m is not None and m.tzinfo is not None]
        naive = sum(m is not None and m.tzinfo is None for m in parsed)
        if len(aware) <= naive:
            return "naive"
        return "utc" if all(m.utcoffset() == timedelta(0) for m in aware) else "local-offset"

    def __call__(self, values: pd.Series) -> pd.Series:
        """Aware UTC timestamps; NaT for unreadable, nonexistent or mixed-zone values."""
        result = {text: self._resolve(self._one(str(text))) for text in pd.unique(values)}
        return pd.Series(pd.to_datetime(values.map(result), utc=True), index=values.index).astype(
            "datetime64[ns, UTC]"
        )

    def _resolve(self, moment: datetime | None) -> pd.Timestamp | None:
        if moment is None:
            return None
        if moment.tzinfo is None:
            if self.kind != "naive":
                return None
            return _localize(moment, self.zone)
        if self.kind == "naive":
            return None
        if (
            self.kind == "local-offset"
            and moment.utcoffset() != moment.astimezone(self.zone).utcoffset()
        ):
            return None
        return pd.Timestamp(moment).tz_convert("UTC")

    def explain(self, value: str) -> str:
        """Why one value became NaT."""
        moment = self._one(value)
        if moment is None:
            return "is not a date-time such as 2026-10-01T06:00 or 2026-10-01T06:00-07:00"
        if moment.tzinfo is None and self.kind != "naive":
            return "has no UTC offset while the other rows have one (mixed time zones)"
        if moment.tzinfo is not None and self.kind == "naive":
            return "has a UTC offset while the other rows have none (mixed time zones)"
        if moment.tzinfo is not None:
            return (
                f"has an offset that is not {self.zone}'s at that time, nor UTC (mixed time zones)"
            )
        return (
            f"does not exist or is repeated in {self.zone} (a clock change); give it a UTC offset"
        )


def _localize(moment: datetime, zone: Any) -> pd.Timestamp | None:
    """A wall time in the zone; None where a clock change skips or repeats it."""
    stamp = pd.Timestamp(moment)
    try:
        return stamp.tz_localize(zone, nonexistent="raise", ambiguous="raise").tz_convert("UTC")
    except ValueError:  # skipped (spring forward) or repeated (fall back)
        return None
