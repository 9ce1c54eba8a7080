"""The thin boto3 adapter: Step Functions calls counted, the history read incrementally."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from kilowatch.sfn.errors import SfnError
from kilowatch.sfn.history import Event

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000  # get_execution_history's largest page
MIN_PAGE_SIZE = 50  # a poll after a quiet one asks for this many events at least
NOT_FOUND_WAIT_S = 10.0  # describe_execution is eventually consistent just after a start
_USER_CODES = {
    "StateMachineDoesNotExist": "no such state machine: {arg}",
    "ExecutionDoesNotExist": "no such execution: {arg}",
    "InvalidArn": "not a valid ARN: {arg}",
    "InvalidExecutionInput": "the input is not accepted: {message}",
    "InvalidName": "not a valid execution name: {message}",
    "ExecutionAlreadyExists": "an execution with that name already exists: {message}",
    "AccessDeniedException": "AWS denied access: {message}",
    "UnrecognizedClientException": "AWS does not know these credentials: {message}",
    "ExpiredTokenException": "the AWS credentials have expired: {message}",
}


def _code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class SfnApi:
    """Step Functions (and S3 for results) through boto3, counting every call made."""

    def __init__(
        self,
        client: Any,
        s3: Any | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.s3 = s3
        self.sleep = sleep
        self.calls: Counter[str] = Counter()

    @classmethod
    def from_environment(cls) -> SfnApi:
        """Clients from boto3's standard credential chain, region and endpoint settings."""
        import boto3
        from botocore.exceptions import BotoCoreError, NoRegionError

        try:
            # AWS_REGION is what Lambda and most SDKs set; older botocore reads only the other.
            session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or None)
            # botocore's own variable is AWS_ENDPOINT_URL_SFN; accept the longer name too.
            endpoint = os.environ.get("AWS_ENDPOINT_URL_STEPFUNCTIONS") or None
            return cls(session.client("stepfunctions", endpoint_url=endpoint), session.client("s3"))
        except NoRegionError:
            raise SfnError(
                "no AWS region is set: set AWS_REGION (or AWS_DEFAULT_REGION, "
                "or a region in the profile)"
            ) from None
        except BotoCoreError as err:  # a malformed region, an unknown AWS_PROFILE...
            raise SfnError(f"the AWS settings cannot be used: {err}") from None

    def call(self, operation: str, arg: str = "", **params: Any) -> dict[str, Any]:
        """One Step Functions call; errors a person must fix become SfnError."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        self.calls[operation] += 1
        try:
            response: dict[str, Any] = getattr(self.client, operation)(**params)
        except NoCredentialsError:
            raise SfnError(
                "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, or run `aws sso login`"
            ) from None
        except EndpointConnectionError as err:
            raise SfnError(
                f"cannot reach Step Functions at {err.kwargs.get('endpoint_url')}: check the "
                "region, the network, and AWS_ENDPOINT_URL_SFN if you set it"
            ) from None
        except ClientError as err:
            message = str(err.response.get("Error", {}).get("Message", ""))
            # Codes without a sentence of their own (a 500, throttling past botocore's retries)
            # still end as one line: the operation, AWS's code and its message.
            template = _USER_CODES.get(_code(err), "Step Functions refused {operation}: {text}")
            text = f"{_code(err) or 'error'}: {message.splitlines()[0] if message else ''}"
            raise SfnError(
                template.format(arg=arg, message=message, operation=operation, text=text),
                code=_code(err),
            ) from None
        except BotoCoreError as err:  # bad region names, parameters, partial reads...
            raise SfnError(f"{operation} failed before AWS answered: {err}") from None
        return response

    # --- executions ----------------------------------------------------------------------

    def describe_execution(self, arn: str, wait_s: float = NOT_FOUND_WAIT_S) -> dict[str, Any]:
        """describe_execution, retried briefly while a new execution is not yet visible."""
        delay_s, waited_s = 0.2, 0.0
        while True:
            try:
                return self.call("describe_execution", arn, executionArn=arn)
            except SfnError as err:
                if err.code != "ExecutionDoesNotExist" or waited_s >= wait_s:
                    raise
            self.sleep(delay_s)
            waited_s += delay_s
            delay_s = min(delay_s * 2, 2.0)

    def start_execution(self, machine_arn: str, name: str, input_text: str) -> str:
        """Start an execution; return its ARN."""
        response = self.call(
            "start_execution", machine_arn, stateMachineArn=machine_arn, name=name, input=input_text
        )
        return str(response["executionArn"])

    def definition_for(self, execution_arn: str) -> str:
        """The ASL definition the execution runs."""
        response = self.call(
            "describe_state_machine_for_execution", execution_arn, executionArn=execution_arn
        )
        return str(response["definition"])

    def machine_arn(self, name_or_arn: str) -> str:
        """A state machine's ARN from its name (or the ARN itself)."""
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        names: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"maxResults": 1000}
            if token:
                params["nextToken"] = token
            page = self.call("list_state_machines", **params)
            for machine in page.get("stateMachines", []):
                if machine["name"] == name_or_arn:
                    return str(machine["stateMachineArn"])
                names.append(str(machine["name"]))
            token = page.get("nextToken")
            if not token:
                break
        known = ", ".join(sorted(names)[:20]) or "none"
        raise SfnError(f"no state machine named {name_or_arn!r} here (there are: {known})")

    def list_executions(
        self, machine_arn: str, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """The newest executions of a state machine (newest first)."""
        found: list[dict[str, Any]] = []
        token: str | None = None
        while len(found) < limit:
            params: dict[str, Any] = {
                "stateMachineArn": machine_arn,
                "maxResults": min(limit, 1000),
            }
            if status:
                params["statusFilter"] = status
            if token:
                params["nextToken"] = token
            page = self.call("list_executions", machine_arn, **params)
            found.extend(page.get("executions", []))
            token = page.get("nextToken")
            if not token:
                break
        return found[:limit]

    def describe_map_run(self, map_run_arn: str) -> dict[str, Any]:
        """A Distributed Map run's item counts."""
        return self.call("describe_map_run", map_run_arn, mapRunArn=map_run_arn)

    def full_history(self, arn: str, include_data: bool = True) -> list[Event]:
        """Every event of an execution, oldest first (for finished executions)."""
        reader = HistoryReader(self, arn, include_data=include_data)
        return reader.read_new()


class HistoryReader:
    """Reads an execution's history incrementally: each call returns only events not yet seen.

    Pages newest-first (reverseOrder) and stops at the first event already read, so a poll
    costs one call per `page_size` new events and the history is never re-read from the start.
    The page asked for follows the pace of the execution (twice the last poll's new events,
    between MIN_PAGE_SIZE and `page_size`), so a quiet poll does not fetch 1,000 old events.
    """

    def __init__(
        self, api: SfnApi, arn: str, page_size: int = PAGE_SIZE, include_data: bool = True
    ) -> None:
        self.api = api
        self.arn = arn
        self.page_size = page_size
        self.include_data = include_data
        self.last_event_id = 0
        self._next_page = page_size

    def read_new(self) -> list[Event]:
        """Events after `last_event_id`, oldest first; remembers the newest one read."""
        fresh: dict[int, Event] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "executionArn": self.arn,
                "maxResults": self._next_page,
                "reverseOrder": True,
                "includeExecutionData": self.include_data,
            }
            if token:
                params["nextToken"] = token
            page = self.api.call("get_execution_history", self.arn, **params)
            events = page.get("events", [])
            reached = False
            for event in events:
                event_id = int(event["id"])
                if event_id > self.last_event_id:
                    fresh[event_id] = event
                else:
                    reached = True
            token = page.get("nextToken")
            if reached or not token or not events:
                break
        # Keep only an unbroken run after the last event read: a gap is filled next poll.
        ordered: list[Event] = []
        expected = self.last_event_id + 1
        while expected in fresh:
            ordered.append(fresh[expected])
            expected += 1
        if len(ordered) < len(fresh):
            logger.debug("history gap after event %d; reading it again next poll", expected - 1)
        if ordered:
            self.last_event_id = int(ordered[-1]["id"])
        # One more than the new events, so the page also reaches an event already read.
        self._next_page = min(self.page_size, max(MIN_PAGE_SIZE, 2 * len(ordered) + 1))
        return ordered


class NaiveHistoryReader(HistoryReader):
    """The baseline the benchmark compares against: the whole history, from the start, each poll."""

    def read_new(self) -> list[Event]:
        """Every event again (oldest first), then only the unseen ones returned."""
        every: list[Event] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "executionArn": self.arn,
                "maxResults": self.page_size,
                "includeExecutionData": self.include_data,
            }
            if token:
                params["nextToken"] = token
            page = self.api.call("get_execution_history", self.arn, **params)
            every.extend(page.get("events", []))
            token = page.get("nextToken")
            if not token:
                break
        fresh = [event for event in every if int(event["id"]) > self.last_event_id]
        if fresh:
            self.last_event_id = max(int(event["id"]) for event in fresh)
        return sorted(fresh, key=lambda event: int(event["id"]))
