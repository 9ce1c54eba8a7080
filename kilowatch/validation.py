"""Checks shared by every settings object and file format: ids, time zones, YAML files."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator

from kilowatch.contract.ids import check_id


def check_timezone(value: str) -> str:
    """An IANA time zone name that this machine's tz database knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA timezone such as America/Mexico_City") from None
    return value


def check_ca_file(value: Path | None) -> Path | None:
    """A CA certificate file that exists and that TLS can load (PEM)."""
    if value is None:
        return None
    if not value.is_file():
        raise ValueError(f"CA certificate {value} does not exist")
    try:
        ssl.create_default_context(cafile=str(value))
    except (ssl.SSLError, OSError, ValueError) as err:
        raise ValueError(
            f"CA certificate {value} is not a PEM certificate TLS can load ({err})"
        ) from None
    return value


PlainId = Annotated[str, AfterValidator(check_id)]
CaFile = Annotated[Path | None, AfterValidator(check_ca_file)]
IanaTimezone = Annotated[str, AfterValidator(check_timezone)]


def read_yaml(path: Path, what: str, error: Callable[[str], Exception], hint: str = "") -> Any:
    """A YAML file's content; a missing, unreadable or malformed file raises error(sentence)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist{hint}") from None
    except OSError as err:
        raise error(f"{what} {path} cannot be read: {err.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise error(f"{what} {path} is not valid YAML{where}: {problem}") from None


def yaml_line(path: Path, loc: Sequence[int | str]) -> int | None:
    """The line (1-based) in a YAML file of the value at key path `loc` (or of the deepest part
    of it that exists): where a validation error points. None when it cannot be told."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    if node is None:
        return None
    for part in loc:
        found = None
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            found = node.value[part] if 0 <= part < len(node.value) else None
        if found is None:
            break
        node = found
    return int(node.start_mark.line) + 1
