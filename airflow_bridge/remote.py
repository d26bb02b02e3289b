"""Remote mode: launch the run on a Dagster deployment over GraphQL and poll it, so workers need no Spark or codec.

The deployment must dequeue runs: `dagster dev` (webserver + daemon) does; a bare `dagster-webserver` needs
`run_coordinator: DefaultRunCoordinator` in its dagster.yaml.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from airflow_bridge.contracts import AssetRun, DagsterRunFailed

log = logging.getLogger(__name__)

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

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
        return cls(
            url=(env.get("IMGPIPE_DAGSTER_URL") or defaults.url).rstrip("/"),
            location=env.get("IMGPIPE_DAGSTER_LOCATION") or defaults.location,
            repository=env.get("IMGPIPE_DAGSTER_REPOSITORY") or defaults.repository,
            headers=headers,
            request_timeout_s=float(env.get("IMGPIPE_DAGSTER_REQUEST_TIMEOUT_S") or defaults.request_timeout_s),
            poll_interval_s=float(env.get("IMGPIPE_DAGSTER_POLL_S") or defaults.poll_interval_s),
            run_timeout_s=float(env.get("IMGPIPE_DAGSTER_RUN_TIMEOUT_S") or defaults.run_timeout_s),
        )


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
        result = self.query(LAUNCH, {"executionParams": params})["launchRun"]
        if result["__typename"] == "LaunchRunSuccess":
            return result["run"]["runId"]
        errors = [e["message"] for e in result.get("errors", [])] or [result.get("message") or result["__typename"]]
        raise DagsterRunFailed(None, f"not launched ({result['__typename']})", errors)

    def wait(self, run_id: str) -> str:
        deadline = self.clock() + self.settings.run_timeout_s
        while True:
            result = self.query(STATUS, {"runId": run_id})["runOrError"]
            if result["__typename"] != "Run":
                raise RemoteDagsterError(f"run {run_id}: {result.get('message') or result['__typename']}")
            if result["status"] in TERMINAL:
                return result["status"]
            if self.clock() >= deadline:
                raise TimeoutError(
                    f"Dagster run {run_id} still {result['status']} after "
                    f"{self.settings.run_timeout_s:.0f} s (IMGPIPE_DAGSTER_RUN_TIMEOUT_S)"
                )
            self.sleep(self.settings.poll_interval_s)

    def errors(self, run_id: str) -> list[str]:
        """Step and run failure messages from the run's event log, as Dagster reported them."""
        messages: list[str] = []
        cursor = None
        while True:
            logs = self.query(EVENTS, {"runId": run_id, "after": cursor})["logsForRun"]
            if logs["__typename"] != "EventConnection":
                return [*messages, logs.get("message") or logs["__typename"]]
            for event in logs["events"]:
                if event["__typename"] == "ExecutionStepFailureEvent" and event.get("error"):
                    messages.append(f"[{event.get('stepKey')}] {event['error']['message'].strip()}")
                elif event["__typename"] in ("RunFailureEvent", "EngineEvent") and event.get("error"):
                    messages.append(event["error"]["message"].strip())
                elif event["__typename"] == "RunFailureEvent":
                    messages.append(event.get("message") or "run failed")
            if not logs["hasMore"]:
                return messages
            cursor = logs["cursor"]

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
            )
        except requests.RequestException as exc:
            raise RemoteDagsterError(f"cannot reach Dagster at {self.settings.url}: {type(exc).__name__}") from None
        if response.status_code in (401, 403):
            raise RemoteDagsterError(
                f"Dagster at {self.settings.url} refused the credentials "
                f"(HTTP {response.status_code}); check IMGPIPE_DAGSTER_HEADERS"
            )
        if not response.ok:
            raise RemoteDagsterError(f"Dagster at {self.settings.url} answered HTTP {response.status_code}")
        body = response.json()
        if body.get("errors"):
            raise RemoteDagsterError("GraphQL errors: " + "; ".join(e.get("message", "?") for e in body["errors"]))
        return body["data"]
