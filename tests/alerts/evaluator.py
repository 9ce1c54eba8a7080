"""A small Grafana alert-rule evaluator: a provisioned rule's queries run on real InfluxDB 1.x,
then its reduce / math / threshold expressions, as Grafana's server-side expressions do.

Covers what kilowatch's rules use: InfluxQL queries (`$timeFilter` as Grafana interpolates it,
through tests.support.grafana.macros), reduce with mode dropNN (last, mean, min, max, sum,
count), math with $refs, arithmetic, comparisons, && and || (numbers joined on their labels,
as Grafana joins series whose labels are equal or a subset), and gt/lt thresholds.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from tests.support.grafana.macros import interpolate
from tests.support.grafana.timerange import TimeRange

Labels = frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a query result: its labels (the GROUP BY tags) and its values in order."""

    labels: Labels
    values: tuple[float | None, ...]


Numbers = dict[Labels, float]  # a reduced result: one number per label set
Result = list[Series] | Numbers


def run_query(url: str, db: str, item: Mapping[str, Any], now_s: int) -> list[Series]:
    """The data item's InfluxQL over its relative range, ending `now_s`, as Grafana sends it."""
    span = item["relativeTimeRange"]
    window = TimeRange((now_s - span["from"]) * 1000, (now_s - span["to"]) * 1000)
    model = item["model"]
    query = interpolate(model["query"], time_range=window, interval=model["intervalMs"])
    response = requests.post(f"{url}/query", data={"q": query, "db": db, "epoch": "s"}, timeout=30)
    response.raise_for_status()
    [result] = response.json()["results"]
    if "error" in result:
        raise AssertionError(f"InfluxDB refused {query!r}: {result['error']}")
    out = []
    for series in result.get("series", []):
        labels = frozenset((series.get("tags") or {}).items())
        for column, name in enumerate(series["columns"]):
            if name != "time":
                out.append(Series(labels, tuple(row[column] for row in series["values"])))
    return out


_REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "last": lambda v: v[-1],
    "mean": lambda v: sum(v) / len(v),
    "min": min,
    "max": max,
    "sum": sum,
    "count": lambda v: float(len(v)),
}


def reduce(series: list[Series], reducer: str) -> Numbers:
    """One number per series; non-numbers dropped (mode dropNN); nothing left: NaN."""
    out: Numbers = {}
    for one in series:
        values = [float(v) for v in one.values if v is not None and not math.isnan(float(v))]
        if reducer == "count":
            out[one.labels] = float(len(values))
        else:
            out[one.labels] = float(_REDUCERS[reducer](values)) if values else math.nan
    return out


def _compatible(a: Labels, b: Labels) -> bool:
    return a <= b or b <= a


def _evaluate(node: ast.AST, env: Mapping[str, float]) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, env)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return float(_evaluate(node.operand, env) == 0)
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, env), _evaluate(node.right, env)
        operations = {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}
        if isinstance(node.op, ast.Div):
            return left / right if right else math.nan
        return operations[type(node.op)]
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = _evaluate(node.left, env), _evaluate(node.comparators[0], env)
        compare = {
            ast.Gt: left > right,
            ast.Lt: left < right,
            ast.GtE: left >= right,
            ast.LtE: left <= right,
            ast.Eq: left == right,
            ast.NotEq: left != right,
        }
        return float(compare[type(node.ops[0])])
    if isinstance(node, ast.BoolOp):
        values = [_evaluate(v, env) for v in node.values]
        truth = [v != 0 and not math.isnan(v) for v in values]
        return float(all(truth) if isinstance(node.op, ast.And) else any(truth))
    raise AssertionError(f"the evaluator does not know {ast.dump(node)}")


def math_expression(expression: str, results: Mapping[str, Result]) -> Numbers:
    """A Grafana math expression over reduced numbers, joined on labels."""
    names = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", expression)
    python = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", r"_\1", expression)
    tree = ast.parse(python.replace("&&", " and ").replace("||", " or "), mode="eval")
    inputs = {name: results[name] for name in dict.fromkeys(names)}
    for name, value in inputs.items():
        if not isinstance(value, dict):
            raise AssertionError(f"math on ${name}: reduce the series first")
    combos: list[tuple[Labels, dict[str, float]]] = [(frozenset(), {})]
    for name, numbers in inputs.items():
        assert isinstance(numbers, dict)
        combos = [
            (labels | other, {**env, f"_{name}": value})
            for labels, env in combos
            for other, value in numbers.items()
            if _compatible(labels, other)
        ]
    return {labels: _evaluate(tree, env) for labels, env in combos}


def threshold(numbers: Numbers, comparison: str, value: float) -> Numbers:
    """1 where the number is above (gt) or below (lt) the value, else 0."""
    test = {"gt": lambda x: x > value, "lt": lambda x: x < value}[comparison]
    return {labels: float(test(x)) for labels, x in numbers.items()}


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A rule's state: the label sets firing, or no data at all."""

    firing: set[Labels]
    normal: set[Labels]
    results: dict[str, Result]

    @property
    def no_data(self) -> bool:
        return not self.firing and not self.normal

    def firing_labels(self, *keys: str) -> set[tuple[str, ...]]:
        """The firing instances as tuples of the given labels' values, e.g. ("hmo",)."""
        return {tuple(dict(labels).get(k, "") for k in keys) for labels in self.firing}


def evaluate(rule: Mapping[str, Any], url: str, db: str, now_s: int) -> Evaluation:
    """Run a provisioned rule's data items in order; its condition gives the state."""
    results: dict[str, Result] = {}
    for item in rule["data"]:
        model = item["model"]
        ref = item["refId"]
        kind = model.get("type")
        if item["datasourceUid"] != "__expr__":
            results[ref] = run_query(url, db, item, now_s)
        elif kind == "reduce":
            source = results[model["expression"]]
            assert isinstance(source, list), f"{ref}: reduce needs series"
            results[ref] = reduce(source, model["reducer"])
        elif kind == "math":
            results[ref] = math_expression(model["expression"], results)
        elif kind == "threshold":
            [condition] = model["conditions"]
            evaluator = condition["evaluator"]
            source = results[model["expression"]]
            assert isinstance(source, dict), f"{ref}: threshold needs numbers"
            results[ref] = threshold(source, evaluator["type"], evaluator["params"][0])
        else:
            raise AssertionError(f"{ref}: expression type {kind!r} is not emulated")
    final = results[rule["condition"]]
    assert isinstance(final, dict), "the condition must be a number per series"
    firing = {labels for labels, value in final.items() if value != 0 and not math.isnan(value)}
    return Evaluation(firing, set(final) - firing, results)


_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def duration_s(text: str) -> int:
    """A Grafana duration such as "5m" in seconds."""
    return int(text[:-1]) * _UNITS_S[text[-1]]


def firing_after_for(
    rule: Mapping[str, Any], url: str, db: str, now_s: int, every_s: int
) -> set[Labels]:
    """The instances firing at `now_s` once the rule's `for` is applied: pending becomes firing
    only where the condition held at every evaluation (every `every_s`) for that long."""
    firing = evaluate(rule, url, db, now_s).firing
    for at in range(now_s - every_s, now_s - duration_s(rule["for"]) - 1, -every_s):
        firing &= evaluate(rule, url, db, at).firing
    return firing
