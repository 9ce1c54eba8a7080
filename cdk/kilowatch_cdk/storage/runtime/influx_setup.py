"""Custom resource: make a new Timestream for InfluxDB instance ready for kilowatch.

Runs in the VPC after the instance exists (CloudFormation Provider framework, so it only
returns data). It signs in as the admin user (the secret CloudFormation created), then:
- creates the DBRP mapping `{bucket}/autogen` -> bucket (default), so InfluxQL (dashboards,
  kilowatch bill, the Lambda's queries) addresses the bucket as the database `{bucket}`;
- keeps a valid write token (processing Lambda) and a read token (Grafana) in their secrets,
  creating a token only when the secret does not hold a valid one (re-runs change nothing).
Only the standard library and boto3 (in every Lambda runtime) are used.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

logger = logging.getLogger()
logger.setLevel(logging.INFO)

RETENTION_POLICY = "autogen"
TIMEOUT_S = 20


class InfluxSetupError(RuntimeError):
    """The instance could not be prepared; CloudFormation shows this message."""


class InfluxApi:
    """The few InfluxDB 2.x HTTP API calls setup needs, signed in with a session cookie."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Send one request; the status and the decoded JSON body (None when empty)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with self._opener.open(request, timeout=TIMEOUT_S) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw) if raw else None
            except ValueError:
                return err.code, {"message": raw.decode(errors="replace")}

    def sign_in(self, username: str, password: str) -> None:
        """Start an admin session (the cookie is kept for later calls)."""
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        status, body = self.call(
            "POST", "/api/v2/signin", headers={"Authorization": f"Basic {basic}"}
        )
        if status != 204:
            raise InfluxSetupError(f"InfluxDB refused the admin sign-in (HTTP {status}): {body}")

    def token_valid(self, token: str) -> bool:
        """Whether InfluxDB accepts this API token."""
        status, _ = self.call("GET", "/api/v2/me", headers={"Authorization": f"Token {token}"})
        return status == 200

    def expect(self, status: int, body: Any, what: str, ok: tuple[int, ...] = (200, 201)) -> Any:
        if status not in ok:
            raise InfluxSetupError(f"InfluxDB refused to {what} (HTTP {status}): {body}")
        return body


def ensure_dbrp(api: InfluxApi, *, org_id: str, bucket_id: str, database: str) -> str:
    """The id of the DBRP mapping database/autogen -> bucket, created if missing."""
    query = f"/api/v2/dbrps?orgID={org_id}&db={database}&rp={RETENTION_POLICY}"
    found = api.expect(*api.call("GET", query), "list DBRP mappings")
    for mapping in (found or {}).get("content", []):
        if mapping.get("bucketID") == bucket_id and not mapping.get("virtual", False):
            return str(mapping["id"])
    body = {
        "bucketID": bucket_id,
        "database": database,
        "default": True,
        "orgID": org_id,
        "retention_policy": RETENTION_POLICY,
    }
    created = api.expect(*api.call("POST", "/api/v2/dbrps", body), "create the DBRP mapping")
    return str(created["id"])


def token_permissions(*, org_id: str, bucket_id: str, write: bool) -> list[dict[str, Any]]:
    """Read (and write) on the one bucket; reading the organisation lets clients check it exists."""
    bucket = {"type": "buckets", "id": bucket_id, "orgID": org_id}
    permissions = [
        {"action": "read", "resource": bucket},
        {"action": "read", "resource": {"type": "orgs", "id": org_id}},
    ]
    if write:
        permissions.append({"action": "write", "resource": bucket})
    return permissions


def ensure_token(
    api: InfluxApi,
    *,
    current: str | None,
    org_id: str,
    bucket_id: str,
    write: bool,
    description: str,
    store: Callable[[str], None],
) -> bool:
    """Keep the stored token if InfluxDB accepts it, else create and store one; True if created."""
    if current and api.token_valid(current):
        return False
    body = {
        "orgID": org_id,
        "description": description,
        "permissions": token_permissions(org_id=org_id, bucket_id=bucket_id, write=write),
    }
    created = api.expect(
        *api.call("POST", "/api/v2/authorizations", body), f"create the token {description!r}"
    )
    store(str(created["token"]))
    return True


def prepare(props: dict[str, str], secrets: Any) -> dict[str, str]:
    """Sign in, map the DBRP and keep both tokens; the ids for CloudFormation's attributes."""
    admin = json.loads(secrets.get_secret_value(SecretId=props["AdminSecretArn"])["SecretString"])
    api = InfluxApi(props["Url"])
    api.sign_in(admin["username"], admin["password"])
    org_name, bucket_name = props["Organization"], props["Bucket"]
    orgs = api.expect(*api.call("GET", f"/api/v2/orgs?org={org_name}"), "list organisations")
    if not orgs.get("orgs"):
        raise InfluxSetupError(f"the organisation {org_name!r} does not exist on the instance")
    org_id = orgs["orgs"][0]["id"]
    buckets = api.expect(
        *api.call("GET", f"/api/v2/buckets?orgID={org_id}&name={bucket_name}"), "list buckets"
    )
    if not buckets.get("buckets"):
        raise InfluxSetupError(f"the bucket {bucket_name!r} does not exist in {org_name!r}")
    bucket_id = buckets["buckets"][0]["id"]
    dbrp_id = ensure_dbrp(api, org_id=org_id, bucket_id=bucket_id, database=bucket_name)
    for key, write in (("WriterSecretArn", True), ("ReaderSecretArn", False)):
        arn = props[key]
        stored = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])

        def store(token: str, arn: str = arn, stored: dict[str, Any] = stored) -> None:
            secrets.put_secret_value(
                SecretId=arn, SecretString=json.dumps({**stored, "token": token})
            )

        created = ensure_token(
            api,
            current=stored.get("token"),
            org_id=org_id,
            bucket_id=bucket_id,
            write=write,
            description=f"kilowatch {'writer' if write else 'reader'} ({props['Url']})",
            store=store,
        )
        logger.info("%s token %s", "write" if write else "read", "created" if created else "kept")
    return {"OrgId": org_id, "BucketId": bucket_id, "DbrpId": dbrp_id}


def on_event(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    """Provider framework entry point: create/update prepare the instance; delete does nothing."""
    import boto3

    request = event["RequestType"]
    physical_id = event.get("PhysicalResourceId", "kilowatch-influx-setup")
    if request == "Delete":  # the instance and secrets go with the stack (or stay, if retained)
        return {"PhysicalResourceId": physical_id}
    props = {k: str(v) for k, v in event["ResourceProperties"].items() if k != "ServiceToken"}
    data = prepare(props, boto3.client("secretsmanager"))
    return {"PhysicalResourceId": f"kilowatch-influx-setup-{data['OrgId']}", "Data": data}
