"""The whole template against a committed snapshot (asset hashes masked).

A change to the infrastructure shows up here as a diff to review. After an intended change:

    KILOWATCH_SNAPSHOT_UPDATE=1 python -m pytest tests/cdk/test_snapshot.py

rewrites tests/cdk/snapshots/kilowatch-test.template.json; commit it with the change.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).parent / "snapshots" / "kilowatch-test.template.json"
UPDATE_VARIABLE = "KILOWATCH_SNAPSHOT_UPDATE"
# Asset hashes change with every edit of the code they hash (the kilowatch package, handlers).
_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def normalise(template_json: dict[str, Any]) -> str:
    """The template as sorted, indented JSON with asset hashes replaced by a fixed marker."""
    text = json.dumps(template_json, sort_keys=True, indent=1)
    return _HASH.sub("<asset-hash>", text) + "\n"


def test_normalise_masks_asset_hashes_only() -> None:
    digest = "ab" * 32
    text = normalise({"S3Key": f"{digest}.zip", "Name": "kilowatch"})
    assert digest not in text
    assert '"S3Key": "<asset-hash>.zip"' in text
    assert '"Name": "kilowatch"' in text


def test_template_matches_the_snapshot(template_json: dict[str, Any]) -> None:
    current = normalise(template_json)
    if os.environ.get(UPDATE_VARIABLE) == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(current)
    # A missing snapshot fails too: writing one silently would make this test unable to fail.
    assert SNAPSHOT.exists(), f"no snapshot; {UPDATE_VARIABLE}=1 writes {SNAPSHOT.name}"
    assert current == SNAPSHOT.read_text(), (
        f"the template changed; review the diff, then {UPDATE_VARIABLE}=1 rewrites {SNAPSHOT.name}"
    )
