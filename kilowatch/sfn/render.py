"""What `kilowatch sfn` shows: the live view (rich), plain progress lines, explanations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kilowatch.sfn.eta import Eta
from kilowatch.sfn.explain import Explanation
from kilowatch.sfn.history import MapProgress, Progress

MAX_INPUT_CHARS = 1500  # a state's input beyond this is cut: the point is to recognise it
_MARK = {"running": "▶", "succeeded": "✓", "failed": "✗"}
_STYLE = {"running": "bold cyan", "succeeded": "green", "failed": "bold red"}


def duration(seconds: float) -> str:
    """Seconds as '45s', '3m05s' or '2h04m'."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"


def eta_text(eta: Eta | None) -> str:
    """'ETA 3m05s (median of 12 runs)', or why there is none."""
    if eta is None:
        return ""
    if eta.remaining_s is None:
        return f"no ETA: {eta.reason}"
    return f"ETA {duration(eta.remaining_s)} ({eta.basis})"


def map_text(progress: MapProgress) -> str:
    """'Days: 120/365 items, 8 running, 2 failed'."""
    total = "?" if progress.total is None else str(progress.total)
    parts = [f"{progress.name}: {progress.done}/{total} items"]
    if progress.running:
        parts.append(f"{progress.running} running")
    if progress.failed:
        parts.append(f"{progress.failed} failed")
    if progress.map_run_arn:
        parts.append("distributed")
    return ", ".join(parts)


def headline(name: str, progress: Progress, eta: Eta | None, now_s: float) -> str:
    """One line: status, current state, states done/total, elapsed, ETA."""
    parts = [f"{name}: {progress.status}"]
    current = progress.current
    if current is not None and progress.status == "RUNNING":
        parts.append(f"in {current.name} for {duration(current.elapsed_s(now_s))}")
    parts.append(f"{progress.states_done}/{progress.states_total} states done")
    parts.append(f"{duration(progress.elapsed_s(now_s))} elapsed")
    if progress.status == "RUNNING" and eta is not None:
        parts.append(eta_text(eta))
    return ", ".join(parts)


def plain_line(name: str, progress: Progress, eta: Eta | None, now_s: float) -> str:
    """A periodic log line for when the output is not a terminal."""
    stamp = datetime.fromtimestamp(now_s, UTC).strftime("%H:%M:%S")
    maps = [map_text(m) for m in progress.maps.values() if m.running or m.total]
    return " | ".join([f"{stamp} {headline(name, progress, eta, now_s)}", *maps])


def live_view(name: str, progress: Progress, eta: Eta | None, now_s: float) -> RenderableType:
    """The live panel: headline, one row per top-level state entry, Map item counts."""
    table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
    table.add_column("")
    table.add_column("state")
    table.add_column("type", style="dim")
    table.add_column("elapsed", justify="right")
    table.add_column("detail")
    for run in progress.top_runs:
        detail = ""
        if run.name in progress.maps:
            detail = map_text(progress.maps[run.name]).partition(": ")[2]
        if run.retries:
            detail = ", ".join(filter(None, [detail, f"{run.retries} retries"]))
        table.add_row(
            Text(_MARK[run.status], style=_STYLE[run.status]),
            Text(run.name, style=_STYLE[run.status] if run.status != "succeeded" else ""),
            run.state_type,
            duration(run.elapsed_s(now_s)),
            detail,
        )
    return Group(Text(headline(name, progress, eta, now_s), style="bold"), table)


def output_text(output: str | None) -> str:
    """The execution's output, pretty-printed when it is JSON."""
    if not output:
        return "(no output)"
    try:
        return json.dumps(json.loads(output), indent=2, sort_keys=True)
    except ValueError:
        return output


def _short(text: str | None) -> str:
    if text is None:
        return "(not recorded)"
    pretty = output_text(text)
    if len(pretty) > MAX_INPUT_CHARS:
        return pretty[:MAX_INPUT_CHARS] + f"\n… ({len(pretty) - MAX_INPUT_CHARS} more characters)"
    return pretty


def explanation_lines(expl: Explanation) -> list[str]:
    """The failure in plain words, one point per line."""
    where = f"state {expl.state} ({expl.state_type})" if expl.state else "the execution itself"
    verb = {"TIMED_OUT": "timed out", "ABORTED": "was stopped"}.get(expl.status, "failed")
    lines = [f"The execution {verb} in {where}."]
    if expl.retries:
        retries = f"{expl.retries} retr{'y' if expl.retries == 1 else 'ies'}"
        lines.append(f"It was tried {expl.retries + 1} times ({retries}) before giving up.")
    what = (
        expl.error
        if not expl.error_type or expl.error_type == expl.error
        else (f"{expl.error} ({expl.error_type})")
    )
    lines.append(f"Error: {what}" + (f": {expl.message}" if expl.message else ""))
    if expl.bad_rows:
        lines.append(f"Rows that failed validation ({len(expl.bad_rows)} shown):")
        lines.extend("  " + ", ".join(f"{k}={v}" for k, v in row.items()) for row in expl.bad_rows)
    if expl.trace:
        lines.append("Where, in kilowatch's code (innermost last):")
        lines.extend(f"  {frame}" for frame in expl.trace)
        if expl.frames_hidden:
            frames = f"{expl.frames_hidden} frame{'s' if expl.frames_hidden != 1 else ''}"
            lines.append(f"  ({frames} of other libraries left out)")
    for name, items in expl.failed_items.items():
        shown = ", ".join(str(i) for i in items[:20])
        lines.append(f"Map {name}: items {shown} failed" + (" …" if len(items) > 20 else ""))
    if expl.hint:
        lines.append(f"What to do: {expl.hint}")
    lines.append("The state's input was:")
    lines.extend("  " + line for line in _short(expl.input).splitlines())
    return lines


def execution_json(
    execution: dict[str, Any], progress: Progress, explanation: Explanation | None, now_s: float
) -> dict[str, Any]:
    """Machine output for --json."""
    return {
        "executionArn": execution.get("executionArn"),
        "status": progress.status if progress.status != "RUNNING" else execution.get("status"),
        "elapsed_s": round(progress.elapsed_s(now_s), 3),
        "states": [
            {
                "name": run.name,
                "type": run.state_type,
                "status": run.status,
                "elapsed_s": round(run.elapsed_s(now_s), 3),
                "retries": run.retries,
            }
            for run in progress.top_runs
        ],
        "maps": {
            name: {"total": m.total, "succeeded": m.succeeded, "failed": m.failed}
            for name, m in progress.maps.items()
        },
        "output": _parsed(progress.output),
        "error": explanation.to_dict() if explanation else None,
    }


def _parsed(text: str | None) -> Any:
    """JSON text as data (text that is not JSON stays text)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
