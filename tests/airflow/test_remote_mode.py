"""Remote mode end to end: Airflow tasks launch runs on a real `dagster-webserver` over GraphQL and poll them."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from tests.airflow.conftest import place_photo, utc

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# A bare webserver has no daemon to dequeue runs: launch them directly.
INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_loaded(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Up once /server_info answers and the code location has loaded its repository."""
    query = {"query": "{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name } } } }"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with {proc.returncode}")
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                repos = requests.post(f"{url}/graphql", json=query, timeout=10).json()["data"]["repositoriesOrError"]
                if repos.get("nodes"):
                    return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise TimeoutError(f"dagster-webserver at {url} not ready after {timeout} s")


@pytest.fixture(scope="module")
def dagster_webserver(tmp_path_factory):
    """dagster-webserver on a free loopback port; its DAGSTER_HOME and photo folder are shared with the test."""
    root = tmp_path_factory.mktemp("remote")
    home, photos = root / "dagster", root / "photos"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    place_photo(photos, "chelsea.png", dt.date(2026, 11, 25))
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "IMGPIPE_HOME": str(root / "imgpipe"),
        "IMGPIPE_LOCAL_SOURCE": str(photos),
        "SPARK_MASTER": "local[2]",
    }
    port = free_port()
    webserver = Path(sys.executable).with_name("dagster-webserver")
    proc = subprocess.Popen(
        [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(root / "webserver.log", "w"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_loaded(url, proc)
        yield url, home
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def remote_env(dagster_webserver, monkeypatch):
    url, home = dagster_webserver
    monkeypatch.setenv("IMGPIPE_AIRFLOW_MODE", "remote")
    monkeypatch.setenv("IMGPIPE_DAGSTER_URL", url)
    monkeypatch.setenv("IMGPIPE_DAGSTER_HEADERS", json.dumps({"X-Imgpipe-Client": "airflow-tests"}))
    monkeypatch.setenv("IMGPIPE_DAGSTER_ALLOW_HTTP", "1")  # the webserver is plain http on loopback
    monkeypatch.setenv("IMGPIPE_DAGSTER_POLL_S", "1")
    monkeypatch.setenv("IMGPIPE_DAGSTER_RUN_TIMEOUT_S", "600")
    # Only the test reads this instance; the tasks must not touch it, they talk to the webserver.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("IMGPIPE_LOCAL_SOURCE", "/nonexistent: remote tasks must not read local photos")
    return home


@pytest.mark.integration
def test_remote_mode_materializes_through_the_webserver(airflow_db, dagbag, remote_env) -> None:
    dag_run = dagbag.dags["image_pipeline__local"].test(logical_date=utc(2026, 11, 25))

    assert str(dag_run.state) == "success", {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    with DagsterInstance.get() as instance:
        for asset in ("raw_images", "compressed_images", "stored_images", "image_catalog"):
            (record,) = [
                r
                for r in instance.fetch_materializations(AssetKey(asset), limit=20).records
                if r.partition_key == "2026-11-25|local"
            ]
            run = instance.get_run_by_id(record.run_id)
            assert run.remote_job_origin is not None, "run was not launched by the deployment"
            assert run.job_name == "image_pipeline" and run.status == DagsterRunStatus.SUCCESS
            assert (run.tags["airflow/run_id"], run.tags["airflow/task_id"]) == (dag_run.run_id, asset)
        assert record.asset_materialization.metadata["documents"].value == 1  # image_catalog, the last asset


@pytest.mark.integration
def test_remote_failure_fails_the_task_with_dagsters_error(airflow_db, dagbag, remote_env, capfd) -> None:
    # stored_images for a day whose upstream never ran: the Dagster run fails on the missing manifest.
    dag_run = dagbag.dags["image_pipeline__local"].test(
        logical_date=utc(2026, 11, 10), mark_success_pattern="raw_images|compressed_images"
    )

    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert str(dag_run.state) == "failed"
    assert (states["stored_images"], states["image_catalog"]) == ("failed", "upstream_failed")
    out, err = capfd.readouterr()
    assert "2026-11-10|local: upstream manifest" in out + err
    with DagsterInstance.get() as instance:
        (run,) = [r for r in instance.get_runs() if r.tags.get("airflow/run_id") == dag_run.run_id]
        assert run.status == DagsterRunStatus.FAILURE and run.remote_job_origin is not None
