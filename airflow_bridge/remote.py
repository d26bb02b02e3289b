"""Remote mode: launch the run on a Dagster deployment over GraphQL and poll it, so workers need no Spark or codec.

The deployment must dequeue runs: `dagster dev` (webserver + daemon) does; a bare `dagster-webserver` needs
`run_coordinator: DefaultRunCoordinator` in its dagster.yaml.

Safe by default: auth headers go only to the configured origin (redirects are refused, never followed), a token
needs https (plain http only to a loopback address, and only with IMGPIPE_DAGSTER_ALLOW_HTTP=1), every request has
a timeout, the event log is read for a bounded number of pages, and any reply that is not the GraphQL shape asked
for is a `RemoteDagsterError`, never a `KeyError` or `JSONDecodeError`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from airflow_bridge.contracts import AssetRun, DagsterRunFailed

log = logging.getLogger(__name__)

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
MAX_EVENT_PAGES = 50  # error messages come from the first pages of a run's log; a server paging forever stops here
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

LAUNCH = """
mutation Launch($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}"""

STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on Error { message }
  }
}"""

EVENTS = """
query Events($runId: ID!, $after: String) {
  logsForRun(runId: $runId, afterCursor: $after) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on MessageEvent { message stepKey }
        ... on ErrorEvent { error { message } }
      }
    }
    ... on Error { message }
  }
}"""

TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) { __typename ... on Error { message } }
}"""


class RemoteDagsterError(RuntimeError):
    """The deployment could not be reached or refused the request (not a failed run)."""


@dataclass(frozen=True)
class RemoteSettings:
    url: str = "http://127.0.0.1:3000"
    location: str = "image_assets"
    repository: str = "__repository__"
    #: Extra HTTP headers (auth tokens): sent, never logged or shown in repr.
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    allow_http: bool = False  # plain http with headers, to a loopback address only
    request_timeout_s: float = 30.0
    poll_interval_s: float = 5.0
    run_timeout_s: float = 3 * 3600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RemoteSettings:
        env = os.environ if env is None else env
        raw = env.get("IMGPIPE_DAGSTER_HEADERS") or "{}"
        try:
            headers = json.loads(raw)
        except json.JSONDecodeError:
            headers = None
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValueError("IMGPIPE_DAGSTER_HEADERS must be a JSON object of header names to string values")
        defaults = cls()
        settings = cls(
            url=(env.get("IMGPIPE_DAGSTER_URL") or defaults.url).rstrip("/"),
            location=env.get("IMGPIPE_DAGSTER_LOCATION") or defaults.location,
            repository=env.get("IMGPIPE_DAGSTER_REPOSITORY") or defaults.repository,
            headers=headers,
            allow_http=(env.get("IMGPIPE_DAGSTER_ALLOW_HTTP") or "").strip().lower() in {"1", "true", "yes"},
            request_timeout_s=_seconds(env, "IMGPIPE_DAGSTER_REQUEST_TIMEOUT_S", defaults.request_timeout_s),
            poll_interval_s=_seconds(env, "IMGPIPE_DAGSTER_POLL_S", defaults.poll_interval_s, minimum=0.0),
            run_timeout_s=_seconds(env, "IMGPIPE_DAGSTER_RUN_TIMEOUT_S", defaults.run_timeout_s, minimum=0.0),
        )
        settings.check_transport()
        return settings

    def check_transport(self) -> None:
        """Refuse to send headers (tokens) in the clear, except to this machine when explicitly allowed."""
        parts = urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"IMGPIPE_DAGSTER_URL must be an http(s) URL, not {self.url!r}")
        if self.headers and parts.scheme == "http" and not (self.allow_http and parts.hostname in LOOPBACK_HOSTS):
            raise ValueError(
                "IMGPIPE_DAGSTER_HEADERS are only sent over https; plain http is allowed to a loopback address "
                "with IMGPIPE_DAGSTER_ALLOW_HTTP=1"
            )


def _seconds(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.001) -> float:
    text = (env.get(name) or "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {text!r}") from None
    if not minimum <= value < float("inf"):
        raise ValueError(f"{name} must be at least {minimum} s and finite, not {text!r}")
    return value


class RemoteExecutor:
    def __init__(
        self,
        settings: RemoteSettings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.session, self.sleep, self.clock = settings, session or requests.Session(), sleep, clock

    def run(self, request: AssetRun) -> str:
        run_id = self.launch(request)
        log.info(
            "launched Dagster run %s on %s for %s %s",
            run_id,
            self.settings.url,
            "/".join(request.asset_key),
            request.partition_key,
        )
        try:
            status = self.wait(run_id)
        except BaseException:  # Airflow's execution timeout or a kill: do not leave the run behind
            self.terminate(run_id)
            raise
        if status != "SUCCESS":
            raise DagsterRunFailed(run_id, status, self.errors(run_id))
        log.info("Dagster run %s succeeded", run_id)
        return run_id

    def launch(self, request: AssetRun) -> str:
        params = {
            "selector": {
                "repositoryLocationName": self.settings.location,
                "repositoryName": self.settings.repository,
                "jobName": request.job_name,
                "assetSelection": [{"path": list(request.asset_key)}],
            },
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in request.tags.items()]},
        }
        result = _object(self.query(LAUNCH, {"executionParams": params}), "launchRun")
        kind = _text(result, "__typename")
        if kind == "LaunchRunSuccess":
            return _text(_object(result, "run"), "runId")
        errors = [str(e.get("message")) for e in result.get("errors") or [] if isinstance(e, dict)]
        raise DagsterRunFailed(None, f"not launched ({kind})", errors or [str(result.get("message") or kind)])

    def wait(self, run_id: str) -> str:
        deadline = self.clock() + self.settings.run_timeout_s
        while True:
            result = _object(self.query(STATUS, {"runId": run_id}), "runOrError")
            if _text(result, "__typename") != "Run":
                raise RemoteDagsterError(f"run {run_id}: {result.get('message') or result['__typename']}")
            status = _text(result, "status")
            if status in TERMINAL:
                return status
            if self.clock() >= deadline:
                raise TimeoutError(
                    f"Dagster run {run_id} still {status} after "
                    f"{self.settings.run_timeout_s:.0f} s (IMGPIPE_DAGSTER_RUN_TIMEOUT_S)"
                )
            self.sleep(self.settings.poll_interval_s)

    def errors(self, run_id: str) -> list[str]:
        """Step and run failure messages from the run's event log, as Dagster reported them (bounded pages)."""
        messages: list[str] = []
        cursor = None
        for _ in range(MAX_EVENT_PAGES):
            logs = _object(self.query(EVENTS, {"runId": run_id, "after": cursor}), "logsForRun")
            if _text(logs, "__typename") != "EventConnection":
                return [*messages, str(logs.get("message") or logs["__typename"])]
            events = logs.get("events")
            if not isinstance(events, list):
                raise RemoteDagsterError("malformed reply from Dagster: logsForRun.events is not a list")
            for event in events:
                messages.extend(_failure_message(event))
            next_cursor = logs.get("cursor")
            if logs.get("hasMore") is not True or not isinstance(next_cursor, str) or next_cursor == cursor:
                return messages
            cursor = next_cursor
        log.warning("stopped reading the log of run %s after %d pages", run_id, MAX_EVENT_PAGES)
        return messages

    def terminate(self, run_id: str) -> None:
        try:
            self.query(TERMINATE, {"runId": run_id})
            log.warning("asked Dagster to terminate run %s", run_id)
        except Exception as exc:  # best effort while already failing
            log.warning("could not terminate Dagster run %s: %s", run_id, exc)

    def query(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.session.post(
                f"{self.settings.url}/graphql",
                json={"query": document, "variables": variables},
                headers=dict(self.settings.headers),
                timeout=self.settings.request_timeout_s,
                allow_redirects=False,  # headers (tokens) must never follow a redirect to another origin
            )
        except requests.RequestException as exc:
            raise RemoteDagsterError(f"cannot reach Dagster at {self.settings.url}: {type(exc).__name__}") from None
        if 300 <= response.status_code < 400:
            raise RemoteDagsterError(
                f"Dagster at {self.settings.url} answered with a redirect (HTTP {response.status_code}), which is not "
                "followed: set IMGPIPE_DAGSTER_URL to the final address"
            )
        if response.status_code in (401, 403):
            raise RemoteDagsterError(
                f"Dagster at {self.settings.url} refused the credentials "
                f"(HTTP {response.status_code}); check IMGPIPE_DAGSTER_HEADERS"
            )
        if not response.ok:
            raise RemoteDagsterError(f"Dagster at {self.settings.url} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise RemoteDagsterError(f"Dagster at {self.settings.url} answered something other than JSON") from None
        if not isinstance(body, dict):
            raise RemoteDagsterError("malformed reply from Dagster: not a JSON object")
        if body.get("errors"):
            errors = body["errors"] if isinstance(body["errors"], list) else [body["errors"]]
            text = "; ".join(str(e.get("message", "?")) if isinstance(e, dict) else str(e) for e in errors)
            raise RemoteDagsterError("GraphQL errors: " + text[:2000])
        data = body.get("data")
        if not isinstance(data, dict):
            raise RemoteDagsterError("malformed reply from Dagster: no data object")
        return data


def _object(container: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise RemoteDagsterError(f"malformed reply from Dagster: {key} is not an object")
    return value


def _text(container: Mapping[str, Any], key: str) -> str:
    value = container.get(key)
    if not isinstance(value, str):
        raise RemoteDagsterError(f"malformed reply from Dagster: {key} is not a string")
    return value


def _failure_message(event: object) -> list[str]:
    """The failure text of one event of a run's log (step failures with their step key), if it is one."""
    if not isinstance(event, dict):
        return []
    kind, error = event.get("__typename"), event.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    if kind == "ExecutionStepFailureEvent" and isinstance(message, str):
        return [f"[{event.get('stepKey')}] {message.strip()}"]
    if kind in ("RunFailureEvent", "EngineEvent") and isinstance(message, str):
        return [message.strip()]
    if kind == "RunFailureEvent":
        return [str(event.get("message") or "run failed")]
    return []
