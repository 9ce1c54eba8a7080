"""What the broker delivered: `mosquitto_sub -v` in a separate process, its output parsed."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.services import BackgroundProcess, Mosquitto, require_binary


class TopicRecorder:
    """Subscribes (QoS 1) to a topic filter and keeps every message as (topic, payload)."""

    def __init__(self, broker: Mosquitto, output: Path, topic_filter: str = "kilowatch/#") -> None:
        self.broker = broker
        self.output = output
        self.topic_filter = topic_filter
        self.client_id = f"recorder-{uuid.uuid4().hex[:8]}"
        self.process: BackgroundProcess | None = None

    def start(self) -> TopicRecorder:
        argv = [
            require_binary("mosquitto_sub", "mosquitto-clients"),
            *self.broker.client_args(),
            *("-v", "-q", "1", "-i", self.client_id, "-t", self.topic_filter),
        ]
        since = self.broker.log_size()
        self.process = BackgroundProcess(argv, log_path=self.output).start()
        self.broker.wait_for_subscription(self.client_id, self.topic_filter, since=since)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def messages(self) -> list[tuple[str, Any]]:
        """Every (topic, decoded JSON payload) received so far."""
        if not self.output.exists():
            return []
        out = []
        for line in self.output.read_text().splitlines():
            topic, _, payload = line.partition(" ")
            if topic.startswith("kilowatch/"):
                out.append((topic, json.loads(payload)))
        return out

    def readings(self) -> dict[str, list[dict[str, Any]]]:
        """Readings received per meter, arrays flattened, in arrival order."""
        out: dict[str, list[dict[str, Any]]] = {}
        for topic, payload in self.messages():
            parts = topic.split("/")
            if parts[-1] == "readings":
                items = payload if isinstance(payload, list) else [payload]
                out.setdefault(parts[2], []).extend(items)
        return out

    def wait_until(self, describe: str, done: Callable[[], bool], timeout_s: float = 30) -> None:
        """Wait until done() is true, failing with `describe`."""
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {describe}"
            time.sleep(0.05)
