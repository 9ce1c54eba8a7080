"""The bridge README's example is what the bridge writes for that message (plant, tariff id,
period names and numbers), so the documentation cannot drift from the code."""

from __future__ import annotations

import re
from datetime import datetime

from kilowatch.config import load_config
from kilowatch.influx.schema import LineLayout
from kilowatch.processing import Message, Processor
from tests.support.services import REPO_ROOT


def test_the_readme_example_line_is_the_line_written() -> None:
    text = (REPO_ROOT / "kilowatch" / "bridge" / "README.md").read_text(encoding="utf-8")
    example = text[text.index("## Example") :]
    topic, payload = re.search(r"-t (\S+) \\\n\s+-m '([^']+)'", example).groups()  # type: ignore[union-attr]
    line = next(row for row in example.splitlines() if row.startswith("energy,"))
    ts = datetime.fromisoformat(re.search(r'"ts":"([^"]+)"', payload).group(1)).timestamp()  # type: ignore[union-attr]
    processor = Processor(load_config(REPO_ROOT / "config" / "kilowatch.example.yaml"))
    message = Message(topic, payload.encode(), ts + 5)
    processed = processor.process([message], now=ts + 5)
    assert processed.rejections == []
    assert LineLayout().batch_lines(processed, [message]) == [[line]]
