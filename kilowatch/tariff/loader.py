"""Reading a tariff file: YAML in, a validated Tariff out, or a TariffError naming file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kilowatch.tariff.errors import TariffError
from kilowatch.tariff.model import Tariff
from kilowatch.validation import read_yaml

_FRIENDLY = {
    "missing": "missing; add it",
    "extra_forbidden": "unknown key; remove it or fix its spelling (kilowatch/tariff/README.md)",
}


def load_tariff(path: str | Path) -> Tariff:
    """Read and validate a tariff file; raise TariffError saying what to fix."""
    path = Path(path)
    where = f"tariff file {path}"
    raw = read_yaml(
        path,
        "tariff file",
        lambda sentence: TariffError(sentence, str(path)),
        "; fix the plant's `tariff` path in the plant file",
    )
    return parse_tariff(raw, where=where, path=str(path))


def parse_tariff(raw: Any, *, where: str = "tariff", path: str | None = None) -> Tariff:
    """Validate already-parsed YAML; `where` names it in errors."""
    if not isinstance(raw, dict):
        raise TariffError(
            f"{where} must be a mapping with id, version, name, source, currency, tax_percent and "
            "seasons (see kilowatch/tariff/README.md)",
            path,
        )
    try:
        return Tariff.model_validate(raw)
    except ValidationError as err:
        problems = "\n".join(f"  {line}" for line in describe(err, raw))
        raise TariffError(f"{where} is invalid:\n{problems}", path) from None


def describe(err: ValidationError, raw: dict[str, Any]) -> list[str]:
    """One line per problem: 'seasons[1] (winter).schedule.weekday: gap from ...'."""
    lines = []
    for problem in err.errors():
        message = _FRIENDLY.get(problem["type"], problem["msg"]).removeprefix("Value error, ")
        if problem["type"] not in (*_FRIENDLY, "value_error") and "input" in problem:
            message = f"{message} (got {problem['input']!r})"
        where = key_path(problem["loc"], raw)
        lines.append(f"{where}: {message}" if where else message)
    return lines


def key_path(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """A pydantic location as a key path, naming seasons: seasons[0] (summer).rates."""
    text = ""
    node: Any = raw
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                text += f" ({node['name']})"
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return text
