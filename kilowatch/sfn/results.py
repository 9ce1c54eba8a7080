"""The S3 results an execution's output names: found in the JSON (pure), fetched by boto3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class S3Location:
    """An object (or, ending in '/', a prefix) in S3."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        """s3://bucket/key."""
        return f"s3://{self.bucket}/{self.key}"


def _walk(value: Any) -> Iterator[S3Location]:
    if isinstance(value, str) and value.startswith("s3://"):
        bucket, _, key = value.removeprefix("s3://").partition("/")
        if bucket:
            yield S3Location(bucket, key)
    elif isinstance(value, dict):
        lower = {str(k).lower(): v for k, v in value.items()}
        named_bucket = lower.get("bucket")
        named_key = lower.get("key", lower.get("prefix"))
        if isinstance(named_bucket, str) and isinstance(named_key, str):
            yield S3Location(named_bucket, named_key)
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def s3_locations(output: str | None) -> list[S3Location]:
    """Every S3 object or prefix the output names (s3:// URIs, {bucket, key|prefix} pairs)."""
    if not output:
        return []
    try:
        doc = json.loads(output)
    except ValueError:
        return []
    unique: dict[str, S3Location] = {}
    for location in _walk(doc):
        unique.setdefault(location.uri, location)
    return list(unique.values())


def fetch(s3: Any, locations: list[S3Location], folder: Path) -> list[Path]:
    """Download the objects (every object under a prefix) into `folder`; return the files."""
    written: list[Path] = []
    for location in locations:
        keys = [location.key]
        if location.key == "" or location.key.endswith("/"):
            pages = s3.get_paginator("list_objects_v2").paginate(
                Bucket=location.bucket, Prefix=location.key
            )
            keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        for key in keys:
            target = (folder / location.bucket / key).resolve()
            if not target.is_relative_to(folder.resolve()):  # a key like ../../x stays out
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(location.bucket, key, str(target))
            written.append(target)
    return written
