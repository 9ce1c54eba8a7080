"""Which packages each workflow task asset holds: plain data, shared by packaging and the construct.

Lambda unzips a function's code into at most 250 MB: one asset with everything kilowatch's
`data` and `chart` extras pull (pyarrow, scipy, statsmodels, matplotlib, pandas) is ~470 MB, so
each group of tasks gets an asset with only the distributions its handlers import, directly or
through kilowatch's modules at import time (tests/cdk/test_packaging.py imports and runs them
with nothing else on the path).
"""

from __future__ import annotations

from typing import Literal

TaskAsset = Literal["client-data", "billing", "recost"]
TASK_ASSETS: tuple[TaskAsset, ...] = ("client-data", "billing", "recost")

# What every task needing a plant imports: orchestration_tasks._plant goes through
# kilowatch.etl.commands, whose module imports pull pandas, pandera (kilowatch.etl.frames),
# defusedxml (kilowatch.etl.greenbutton), influxdb-client (kilowatch.influx.writer), rich, and the
# core's config and tariff modules (pydantic, PyYAML, holidays, msgspec, orjson, tzdata).
# requests: orchestration_tasks.task() maps its connection errors to TransientError.
# boto3/botocore are not listed: the Lambda Python runtime provides them.
_PLANT_TASKS = (
    "PyYAML",
    "defusedxml",
    "holidays",
    "influxdb-client",
    "msgspec",
    "numpy",
    "orjson",
    "pandas",
    "pandera",
    "pydantic",
    "requests",
    "rich",
    "tzdata",
)

# Distribution names as pyproject.toml spells them (its version bounds apply).
TASK_ASSET_DISTRIBUTIONS: dict[TaskAsset, tuple[str, ...]] = {
    # validate, load, indicators, reconcile: the validated rows travel between steps as
    # Parquet (pyarrow); uploads are CSV/Excel (openpyxl) or Green Button XML
    # (greenbutton-objects). The indicators step (energy intensity per line and day) is pandas
    # arithmetic: it needs neither statsmodels nor scipy (only `kilowatch etl enpi`'s
    # regression does); reconcile's bills (kilowatch.billing) are pandas and numpy too.
    "client-data": (*_PLANT_TASKS, "greenbutton-objects", "openpyxl", "pyarrow"),
    # plan_billing, bill_plant: the bill's chart is drawn with matplotlib (Agg, PNG).
    "billing": (*_PLANT_TASKS, "matplotlib"),
    # plan_recost, recost_day, and summarize (standard library and requests only: it rides
    # in the smallest asset).
    "recost": _PLANT_TASKS,
}

# Top-level modules a task may import lazily, inside a function, which importing the handler
# module alone would not load: the import test loads them in each asset too.
LAZY_IMPORTS: dict[TaskAsset, tuple[str, ...]] = {
    "client-data": (
        "pyarrow.parquet",  # DataFrame.to_parquet / pandas.read_parquet
        "openpyxl",  # read_table on .xlsx uploads
        "greenbutton_objects",  # read_greenbutton
        "pandera.pandas",
    ),
    "billing": ("matplotlib.pyplot", "pandera.pandas"),
    "recost": ("pandera.pandas",),
}
