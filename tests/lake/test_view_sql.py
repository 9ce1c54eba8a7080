"""The views' SQL files: Athena (Trino) SQL naming only the table, earlier views and the
schema's columns; created in an order that works."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from kilowatch_cdk.datalake.infrastructure import VIEW_PREFIX
from kilowatch_cdk.datalake.views import View, views
from sqlglot import exp

from kilowatch.lake.schema import FIELDS, TABLE_NAME


@pytest.mark.parametrize("view", views(), ids=lambda v: v.name)
def test_a_view_reads_only_the_table_and_the_views_before_it(view: View) -> None:
    tree = sqlglot.parse_one(view.statement, read="athena")
    assert isinstance(tree, exp.Create)
    assert view.name.startswith(VIEW_PREFIX)  # the BI clients' Glue grant is on kilowatch_*
    earlier = {v.name for v in views() if v.order < view.order}
    created = tree.this.name if isinstance(tree.this, exp.Table) else tree.this.this.name
    assert created == view.name
    read = {t.name for t in tree.expression.find_all(exp.Table)}
    assert read <= earlier | {TABLE_NAME}, read
    assert view.description, f"{view.name}: say what it shows in the file's leading comment"


def test_the_views_read_only_columns_the_schema_defines() -> None:
    trees = [sqlglot.parse_one(v.statement, read="athena") for v in views()]
    (tree,) = [t for t in trees if TABLE_NAME in {table.name for table in t.find_all(exp.Table)}]
    used = {c.name for c in tree.find_all(exp.Column)} - {"newest"}
    assert used <= {f.name for f in FIELDS}, used - {f.name for f in FIELDS}


def test_cost_views_say_the_lake_has_no_demand_charges() -> None:
    for view in views():
        if "month" in view.name or "bill" in view.name:
            assert "demand charges" in view.description, view.name


def test_names_sort_in_creation_order() -> None:
    found = views()
    assert [v.order for v in found] == sorted(v.order for v in found)
    assert len({v.order for v in found}) == len(found)
    assert [v.query_name for v in found] == sorted(v.query_name for v in found)


def test_the_readme_describes_every_view() -> None:
    readme = Path(__file__).resolve().parents[2] / "cdk/kilowatch_cdk/datalake/README.md"
    text = readme.read_text(encoding="utf-8")
    for view in views():
        assert f"| `{view.name}` |" in text, view.name
