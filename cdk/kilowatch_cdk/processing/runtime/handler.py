"""The ingest Lambda: Kinesis records in; InfluxDB points, data-lake records and receipts out.

Each record is what the IoT rule put on the stream (cdk/README.md, "What the IoT rules put on
Kinesis"): JSON `{"payload": base64 of the MQTT payload, "topic", "client_id",
"received_at_ms"}`. The messages go through exactly the bridge's core: `Processor.process`,
`LineLayout`, `write_with_retry`, then `kilowatch.lake` (Firehose) and
`kilowatch.contract.receipts` (IoT Core's data plane). `IngestApp` is the pipeline, plain
objects that tests and the benchmark run in-process; `handler` is Lambda's entry point.

Cold start (a container's first invocation) reads the settings once, fetches the InfluxDB token
(and the Sentry DSN, when configured) from Secrets Manager, loads the plant file and its tariffs
and opens the InfluxDB writer; a failure there fails the invocation, and the next one tries
again. Each invocation answers with ReportBatchItemFailures (`BatchOutcome.response`).
"""

from __future__ import annotations

import binascii
import time
import zlib
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import boto3
import orjson
import pybase64
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, field_validator, model_validator

from kilowatch.config import load_config
from kilowatch.contract import DEFAULT_PREFIX, check_id
from kilowatch.contract.receipts import build_receipts, message_agent
from kilowatch.influx.schema import LineLayout, plant_info_line
from kilowatch.influx.writer import (
    InfluxTarget,
    InfluxWriteError,
    InfluxWriter,
    RetryPolicy,
    detect_version,
    open_writer,
    write_with_retry,
)
from kilowatch.lake.firehose import FirehoseClient, LakeDeliveryError, put_records
from kilowatch.lake.schema import batch_records
from kilowatch.processing import Key, Message, Processed, Processor
from kilowatch.settings import InfluxSettings
from kilowatch.storage import store_batch

READINGS_METRIC = "ReadingsStored"  # CDK's silent-plant alarms watch it per plant
PLANT_DIMENSION = "plant"

logger = Logger()  # service: POWERTOOLS_SERVICE_NAME
metrics = Metrics()  # namespace: POWERTOOLS_METRICS_NAMESPACE
copy_config_to_registered_loggers(source_logger=logger, include={"kilowatch"})

MS_PER_S = 1000
# Messages received in the same millisecond get distinct sub-millisecond receive times from
# their sequence numbers, so their `rejected` points cannot overwrite each other; the same
# record always gets the same time, so a replayed batch rewrites the same points.
SUB_MS_SLOTS = 1000


class IngestSettings(InfluxSettings):
    """Every setting of the ingest Lambda; the env var is KILOWATCH_ + the name in capitals."""

    config: Path = Field(
        Path("config/kilowatch.example.yaml"), description="plant file (YAML), in the asset"
    )
    topic_prefix: str = Field(DEFAULT_PREFIX, description="first topic level")
    influx_token_secret_arn: str = Field(
        "",
        description="Secrets Manager secret holding the InfluxDB token (JSON with `token`, or "
        "the token alone); unset: influx_token is used",
    )
    firehose_stream: str = Field(
        "", description="Firehose delivery stream for the data lake; unset: no lake records"
    )
    iot_data_endpoint: str = Field(
        "", description="IoT Core data endpoint host for receipts; unset: no receipts"
    )
    sentry_dsn_secret_arn: str = Field(
        "", description="Secrets Manager secret holding the Sentry DSN; unset: no Sentry"
    )
    environment: str = Field("dev", description="environment name (Sentry's environment)")
    batch_size: int = Field(5000, ge=1, le=100_000, description="lines per InfluxDB write")
    retry_initial_s: float = Field(0.5, gt=0, description="first wait after a failed write")
    retry_max_s: float = Field(4.0, gt=0, description="longest wait between write attempts")
    retry_attempts: int = Field(
        4, ge=1, le=20, description="write attempts before the batch is reported failed"
    )
    plant_info_interval_s: float = Field(
        60.0,
        ge=0,
        description="write plant_info points at most this often (per container; 0: never)",
    )

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return check_id(value)

    @field_validator("config")
    @classmethod
    def _config_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"plant file {value} does not exist")
        return value

    @field_validator("iot_data_endpoint")
    @classmethod
    def _host(cls, value: str) -> str:
        return value.removeprefix("https://").rstrip("/")

    @model_validator(mode="after")
    def _retry_order(self) -> IngestSettings:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be at least retry_initial_s")
        return self

    @property
    def retry_policy(self) -> RetryPolicy:
        """Writes retried a few times within one invocation; then Lambda retries the batch."""
        return RetryPolicy(
            initial_s=self.retry_initial_s,
            max_s=self.retry_max_s,
            max_attempts=self.retry_attempts,
        )


class MalformedRecord(ValueError):
    """A Kinesis record that is not what the IoT rule writes (reported as a batch item failure)."""


class StoreFailed(Exception):
    """InfluxDB or Firehose did not take the batch in time: Lambda retries it (idempotent)."""


class IotDataClient(Protocol):
    """The one call of boto3's `iot-data` client used here."""

    def publish(self, **kwargs: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Envelope:
    """One Kinesis record, decoded: its sequence number, the MQTT message, the publisher."""

    sequence: str
    message: Message
    client_id: str | None


@dataclass(slots=True)
class BatchOutcome:
    """What one invocation did; `response()` is the partial-batch answer to Lambda."""

    records: int = 0
    failed: list[str] = field(default_factory=list)  # sequence numbers, in record order
    malformed: int = 0
    stored_by_plant: dict[str, int] = field(default_factory=dict)
    rejected: int = 0  # readings and messages set aside (InfluxDB `rejected`)
    refused: int = 0  # readings InfluxDB refused (set aside as storage_rejected)
    lake_records: int = 0
    receipts_sent: int = 0
    receipts_failed: int = 0

    def response(self) -> dict[str, list[dict[str, str]]]:
        """ReportBatchItemFailures: Lambda retries from the lowest failed sequence number."""
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in self.failed]}


def decode_record(record: Mapping[str, Any]) -> Envelope:
    """The MQTT message inside one Kinesis record of the IoT rule; MalformedRecord if it is not."""
    kinesis = record["kinesis"]
    sequence = str(kinesis["sequenceNumber"])
    try:
        doc = orjson.loads(pybase64.b64decode(kinesis["data"], validate=True))
    except (binascii.Error, ValueError, TypeError) as err:
        raise MalformedRecord(f"data is not base64 of a JSON object: {err}") from None
    if not isinstance(doc, dict):
        raise MalformedRecord("data is not a JSON object")
    payload, topic, received_ms = doc.get("payload"), doc.get("topic"), doc.get("received_at_ms")
    if not isinstance(topic, str) or not topic:
        raise MalformedRecord("no `topic` string")
    if not isinstance(received_ms, int) or isinstance(received_ms, bool):
        raise MalformedRecord("no integer `received_at_ms`")
    if not isinstance(payload, str):
        raise MalformedRecord("no base64 `payload` string")
    try:
        raw = pybase64.b64decode(payload, validate=True)
    except binascii.Error as err:
        raise MalformedRecord(f"`payload` is not base64: {err}") from None
    client_id = doc.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        client_id = None
    slot = zlib.crc32(sequence.encode()) % SUB_MS_SLOTS
    received_at = received_ms / MS_PER_S + slot / (MS_PER_S * SUB_MS_SLOTS)
    return Envelope(sequence, Message(topic, raw, received_at), client_id)


class IngestApp:
    """One container's pipeline: processor, layout and clients live across invocations."""

    def __init__(
        self,
        settings: IngestSettings,
        processor: Processor,
        writer: InfluxWriter,
        *,
        firehose: FirehoseClient | None = None,
        iot_data: IotDataClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._processor = processor
        self._writer = writer
        self._firehose = firehose if settings.firehose_stream else None
        self._iot_data = iot_data if settings.iot_data_endpoint else None
        self._clock = clock
        self._layout = LineLayout()  # caches series heads across invocations
        self._retry = settings.retry_policy
        self._plant_info_due = 0.0
        self._batch = BatchProcessor(
            event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
        )

    def handle(self, records: list[dict[str, Any]]) -> BatchOutcome:
        """Process, store and acknowledge one Kinesis batch; never raises on bad input.

        Powertools' batch processor decodes the records one by one (a malformed one becomes a
        batch item failure); the decoded ones are then processed and stored together.
        """
        outcome = BatchOutcome(records=len(records))
        with self._batch(records, self._decode):
            results = self._batch.process()
        envelopes = [result for status, result, _ in results if status == "success"]
        failed = {item["itemIdentifier"] for item in self._batch.response()["batchItemFailures"]}
        outcome.malformed = len(failed)
        if envelopes:
            try:
                self._run(envelopes, outcome)
            except StoreFailed as err:
                logger.error("the batch was not stored, Lambda will retry it: %s", err)
                failed.update(envelope.sequence for envelope in envelopes)
                outcome.stored_by_plant = {}
        sequences = (str(record["kinesis"]["sequenceNumber"]) for record in records)
        outcome.failed = [sequence for sequence in sequences if sequence in failed]
        return outcome

    @staticmethod
    def _decode(record: KinesisStreamRecord) -> Envelope:
        """Powertools' record handler: the record's message, or the reason it has none."""
        try:
            return decode_record(record.raw_event)
        except MalformedRecord as err:
            logger.warning(
                "Kinesis record %s is malformed: %s", record.kinesis.sequence_number, err
            )
            raise

    def _run(self, envelopes: list[Envelope], outcome: BatchOutcome) -> None:
        messages = [envelope.message for envelope in envelopes]
        now = self._clock()
        # "In the future" is judged at the newest receive time of the batch (IoT Core's clock),
        # not at the time of processing: a batch replayed hours later decides the same.
        received = min(now, max(message.received_at for message in messages))
        processed = self._processor.process(messages, received)
        lines = self.lines(processed, messages)
        refused = self._store(messages, processed, lines)
        if self._firehose is not None:
            records = batch_records(
                processed, self._processor.tariffs, int(now * MS_PER_S), refused
            )
            try:
                put_records(self._firehose, self._settings.firehose_stream, records)
            except LakeDeliveryError as err:
                raise StoreFailed(str(err)) from err
            except Exception as err:  # botocore's errors: the lake must hold what InfluxDB holds
                raise StoreFailed(f"Firehose PutRecordBatch failed: {err}") from err
            outcome.lake_records = len(records)
        stored = processed.stored_readings(refused)
        outcome.stored_by_plant = {p: len(c) for p, c in stored.items() if len(c)}
        outcome.refused = len(refused)
        outcome.rejected = processed.rejected + len(refused)
        if self._iot_data is not None:
            self._send_receipts(envelopes, processed, refused, now, outcome)
        self._plant_info(now)

    def lines(self, processed: Processed, messages: Sequence[Message]) -> list[list[str]]:
        """Each message's lines, as the bridge lays them out: `rejected` points first (at the
        message's receive time, numbered within the message, so a replay rewrites the same
        points), then its `agent_status` or `energy` points."""
        out = self._layout.batch_lines(replace(processed, set_aside={}), messages)
        for index, rejections in processed.set_aside.items():
            received_at = messages[index].received_at
            out[index][:0] = LineLayout().rejected_lines(rejections, received_at)
        return out

    def _write(self, lines: list[str]) -> bool:
        """Write in chunks, each retried with backoff: True once stored; InfluxWriteError if
        InfluxDB refused the points themselves; StoreFailed if it could not take them now."""
        size = self._settings.batch_size
        try:
            for start in range(0, len(lines), size):
                write_with_retry(self._writer, lines[start : start + size], self._retry)
        except InfluxWriteError as err:
            if err.retryable:  # down, overloaded, credentials: Lambda retries the batch later
                raise StoreFailed(f"InfluxDB: {err}") from err
            raise
        return True

    def _store(
        self, messages: Sequence[Message], processed: Processed, lines: list[list[str]]
    ) -> set[Key]:
        """Store every message's lines; the (plant, meter, ts) of readings InfluxDB refused.

        As the bridge does (kilowatch.storage): a refused batch is written message by message,
        a refused message point by point, and what InfluxDB said goes to `rejected` as
        storage_rejected, at the message's receive time, numbered within the message (a replay
        rewrites the same points).
        """
        refused = store_batch(
            self._write,
            messages,
            processed,
            lines,
            lambda rejections, at: LineLayout().rejected_lines(rejections, at),
        )
        assert refused is not None  # _write is never stopped: it stores or raises
        return refused

    def _send_receipts(
        self,
        envelopes: Sequence[Envelope],
        processed: Processed,
        refused: Container[Key],
        now: float,
        outcome: BatchOutcome,
    ) -> None:
        """Tell each agent that asked which of its readings were stored or rejected (QoS 1).

        A lost receipt only makes the agent send those readings again, stored once: a failed
        publish is logged and counted, never a reason to retry the batch.
        """
        assert self._iot_data is not None
        wanted = set()
        for index, envelope in enumerate(envelopes):
            agent = message_agent(envelope.message.payload)
            if agent is None or index in processed.statuses:
                continue
            if envelope.client_id is not None and agent != envelope.client_id:
                # The device policy lets a thing read only its own receipts topic.
                logger.warning(
                    "a message on %s names agent %r but came from %r: no receipt",
                    envelope.message.topic[:200],
                    agent,
                    envelope.client_id,
                )
                continue
            wanted.add(index)
        if not wanted:
            return
        receipts = build_receipts(
            [
                (e.message.topic, e.message.payload if i in wanted else b"")
                for i, e in enumerate(envelopes)
            ],
            processed.stored_ts(refused),
            {i: r for i, r in processed.set_aside.items() if i in wanted},
            now,
            self._settings.topic_prefix,
            processed.refused_ts(refused),
        )
        for topic, payload in receipts:
            try:
                self._iot_data.publish(topic=topic, qos=1, payload=payload)
                outcome.receipts_sent += 1
            except Exception as err:  # botocore's errors; see the docstring
                logger.warning("could not publish the receipt on %s: %s", topic, err)
                outcome.receipts_failed += 1

    def _plant_info(self, now: float) -> None:
        """Each plant's rate now and next (dashboards read it), at most every interval."""
        interval = self._settings.plant_info_interval_s
        if not interval or now < self._plant_info_due:
            return
        lines = [plant_info_line(info, now) for info in self._processor.plant_info(now)]
        try:
            self._writer.write(lines)
        except InfluxWriteError as err:
            logger.warning("could not write the plant_info points: %s", err)
            return
        self._plant_info_due = now + interval


_app: IngestApp | None = None
_sentry = False


def secret_value(client: Any, arn: str, key: str) -> str:
    """A secret's `key` when it holds a JSON object, else the whole secret string."""
    text = str(client.get_secret_value(SecretId=arn)["SecretString"])
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text.strip()
    if isinstance(doc, dict):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise ValueError(f"the secret {arn} has no {key!r} string")
        return str(doc[key])
    return text.strip()


def init_sentry(dsn: str, environment: str) -> None:
    """Report errors to Sentry with its Lambda integration (imported only when configured)."""
    import sentry_sdk
    from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[AwsLambdaIntegration(timeout_warning=True)],
        traces_sample_rate=0.0,
    )


def build_app(settings: IngestSettings, session: boto3.Session | None = None) -> IngestApp:
    """Everything a container keeps between invocations, from its settings."""
    global _sentry
    session = session or boto3.Session()
    secrets = None
    if settings.influx_token_secret_arn or settings.sentry_dsn_secret_arn:
        secrets = session.client("secretsmanager")
    if settings.sentry_dsn_secret_arn and not _sentry:
        init_sentry(
            secret_value(secrets, settings.sentry_dsn_secret_arn, "dsn"), settings.environment
        )
        _sentry = True
    token = settings.influx_token.get_secret_value()
    if settings.influx_token_secret_arn:
        token = secret_value(secrets, settings.influx_token_secret_arn, "token")
    processor = Processor(load_config(settings.config), settings.topic_prefix)
    target = InfluxTarget(
        url=settings.influx_url, bucket=settings.influx_bucket, org=settings.influx_org, token=token
    )
    version = (
        detect_version(settings.influx_url)
        if settings.influx_version == "auto"
        else settings.influx_version
    )
    writer = open_writer(target, version)
    firehose = session.client("firehose") if settings.firehose_stream else None
    iot_data = (
        session.client("iot-data", endpoint_url=f"https://{settings.iot_data_endpoint}")
        if settings.iot_data_endpoint
        else None
    )
    logger.info(
        "ingest ready: InfluxDB %s API at %s bucket %s, lake %s, receipts %s",
        version,
        settings.influx_url,
        settings.influx_bucket,
        settings.firehose_stream or "off",
        settings.iot_data_endpoint or "off",
    )
    return IngestApp(settings, processor, writer, firehose=firehose, iot_data=iot_data)


def app() -> IngestApp:
    """The container's pipeline, built at the first invocation (again after a failed start)."""
    global _app
    if _app is None:
        _app = build_app(IngestSettings.load())
    return _app


def reset() -> None:
    """Forget the container's pipeline (tests: the next invocation is a cold start)."""
    global _app
    _app = None


def emit_metrics(outcome: BatchOutcome) -> None:
    """Per-plant ReadingsStored (its own EMF line per plant), and the batch's counters."""
    for plant, count in sorted(outcome.stored_by_plant.items()):
        with single_metric(
            name=READINGS_METRIC,
            unit=MetricUnit.Count,
            value=count,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name=PLANT_DIMENSION, value=plant)
    counters = {
        "RecordsReceived": outcome.records,
        "RecordsFailed": len(outcome.failed),
        "RecordsMalformed": outcome.malformed,
        "ReadingsRejected": outcome.rejected,
        "ReadingsRefused": outcome.refused,
        "LakeRecordsSent": outcome.lake_records,
        "ReceiptsSent": outcome.receipts_sent,
        "ReceiptsFailed": outcome.receipts_failed,
    }
    for name, value in counters.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda's entry point for the Kinesis event source (ReportBatchItemFailures)."""
    try:
        outcome = app().handle(event.get("Records", []))
    except Exception as err:
        if _sentry:
            import sentry_sdk

            sentry_sdk.capture_exception(err)
            sentry_sdk.flush(timeout=2.0)
        raise
    emit_metrics(outcome)
    if outcome.failed:
        logger.warning("%d of %d record(s) reported failed", len(outcome.failed), outcome.records)
    return outcome.response()
