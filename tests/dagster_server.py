"""Start `dagster dev` (webserver + daemon) on 127.0.0.1 for tests and talk GraphQL to it."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.servers import free_port, serving

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def dagster_dev(env: Mapping[str, str], log_path: Path, timeout: float = 120.0) -> Iterator[str]:
    """Run `dagster dev -w workspace.yaml`; yield its base URL once /server_info answers."""
    from tests.conftest import forbid_in_fast_tier

    forbid_in_fast_tier("dagster dev")
    port = free_port()
    dagster = Path(sys.executable).with_name("dagster")
    argv = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]
    url = f"http://127.0.0.1:{port}"
    with serving(
        argv, url, "/server_info", log_path, "dagster dev", timeout, cwd=ROOT, env={**os.environ, **env}, poll=1
    ) as served:
        yield served


def graphql(url: str, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": dict(variables or {})}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def wait_for_run(url: str, run_id: str, timeout: float = 300.0) -> str:
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = graphql(url, query, {"id": run_id})["runOrError"]["status"]
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            return status
        time.sleep(2)
    raise TimeoutError(f"run {run_id} did not finish in {timeout} s")
