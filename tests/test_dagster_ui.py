"""The Dagster UI (a real `dagster dev`: webserver + daemon, one for this module), driven through its GraphQL API:
the asset graph it shows, the "Materialize" button for one partition, and a partition backfill that the daemon
splits into bounded runs. The catalog is a password-protected MongoDB (the wire-protocol server with SCRAM) and
MLflow a tracking server reached with credentials in its URI: both passwords must appear nowhere a user can see."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from image_assets.sources.local import BUNDLED_PHOTOS
from tests.dagster_server import dagster_dev, graphql, wait_for_run
from tests.servers import mlflow_server, mongo_wire_server

pytestmark = pytest.mark.integration

ASSETS = ["raw_images", "compressed_images", "stored_images", "image_catalog"]
PASSWORDS = {"mongo": "m0ngo-Pl4nted-6f1d2c", "mlflow": "mlfl0w-Pl4nted-93ac7e"}
RESOURCES_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError { ... on RepositoryLocation {
  repositories { allTopLevelResourceDetails { name configuredValues { key value type } } } } } } } } }
"""
RUNS_QUERY = "{ runsOrError { ... on Runs { results { runId } } } }"
LOGS_QUERY = """
query($id: ID!) { logsForRun(runId: $id) { __typename ... on EventConnection { events {
  __typename ... on MessageEvent { message }
  ... on MaterializationEvent { metadataEntries { label __typename
    ... on TextMetadataEntry { text } ... on UrlMetadataEntry { url } ... on JsonMetadataEntry { jsonString }
    ... on MarkdownMetadataEntry { mdStr } } } } } } }
"""
DAYS = [dt.date(2026, 11, 20) + dt.timedelta(days=i) for i in range(4)]
ASSETS_QUERY = """
{ assetNodes { assetKey { path } dependencyKeys { path }
    partitionDefinition { dimensionTypes { name } } partitionKeysByDimension { name partitionKeys } } }
"""
LAUNCH = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }
"""
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }
"""
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }
"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """One `dagster dev` for the module, over photos on four days; backfills run at most 2 partitions per run."""
    root = tmp_path_factory.mktemp("ui")
    photos = root / "photos"
    photos.mkdir()
    for day in DAYS:
        path = photos / f"chelsea-{day.isoformat()}.png"
        shutil.copy(BUNDLED_PHOTOS / "chelsea.png", path)
        noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp()
        os.utime(path, (noon, noon))
    (root / "dagster").mkdir()
    (root / "mlflow").mkdir()
    with ExitStack() as stack:
        mongo = stack.enter_context(mongo_wire_server(root / "mongo.sqlite", users={"imgpipe": PASSWORDS["mongo"]}))
        mlflow = stack.enter_context(mlflow_server(root / "mlflow"))
        env = {
            "DAGSTER_HOME": str(root / "dagster"),
            "IMGPIPE_HOME": str(root / "home"),
            "IMGPIPE_LOCAL_SOURCE": str(photos),
            "SPARK_MASTER": "local[2]",
            "IMGPIPE_BACKFILL_MAX_PARTITIONS": "2",
            # mongoeco's server speaks SCRAM-SHA-256 only, and does not advertise it: name it.
            "MONGODB_URI": with_credentials(mongo, PASSWORDS["mongo"])
            + "&authSource=admin&authMechanism=SCRAM-SHA-256",
            "MLFLOW_TRACKING_URI": with_credentials(mlflow, PASSWORDS["mlflow"]),
        }
        (root.parent / f"{root.name}-env.json").write_text(json.dumps(env))  # outside the scanned folder
        with dagster_dev(env, root / "dagster-dev.log") as url:
            yield url, root


def with_credentials(uri: str, password: str) -> str:
    scheme, rest = uri.split("://", 1)
    return f"{scheme}://imgpipe:{password}@{rest}"


@contextmanager
def instance_at(home: Path) -> Iterator[DagsterInstance]:
    previous = os.environ["DAGSTER_HOME"]
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with DagsterInstance.get() as instance:
            yield instance
    finally:
        os.environ["DAGSTER_HOME"] = previous


def test_ui_lists_the_asset_graph(ui) -> None:
    url, _ = ui
    nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(url, ASSETS_QUERY)["assetNodes"]}
    assert set(nodes) == set(ASSETS)
    assert nodes["image_catalog"]["dependencyKeys"] == [{"path": ["stored_images"]}]
    dims = {d["name"]: d["partitionKeys"] for d in nodes["raw_images"]["partitionKeysByDimension"]}
    assert dims["source"] == ["local", "pexels", "unsplash", "wallhaven"]
    assert "2026-11-23" in dims["date"]


def test_ui_materialize_button_and_backfill(ui) -> None:
    """Launched together (they run side by side): one partition from the "Materialize" button, and a backfill of
    three other days that the daemon splits into runs of at most two partitions."""
    url, root = ui
    tags = [
        {"key": "dagster/partition", "value": "2026-11-23|local"},
        {"key": "dagster/partition/date", "value": "2026-11-23"},
        {"key": "dagster/partition/source", "value": "local"},
    ]
    params = {
        "selector": {"repositoryLocationName": "image_assets", "repositoryName": "__repository__",
                     "jobName": "image_pipeline"},
        "executionMetadata": {"tags": tags},
        "runConfigData": {},
    }  # fmt: skip
    launched = graphql(url, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    days = [f"{day.isoformat()}|local" for day in DAYS[:3]]
    backfill_params = {"partitionNames": days, "assetSelection": [{"path": [a]} for a in ASSETS], "fromFailure": False}
    backfill = graphql(url, LAUNCH_BACKFILL, {"params": backfill_params})["launchPartitionBackfill"]
    assert backfill["__typename"] == "LaunchBackfillSuccess", backfill

    assert wait_for_run(url, launched["run"]["runId"], timeout=420) == "SUCCESS"
    deadline, status = time.monotonic() + 420, None
    while time.monotonic() < deadline:
        status = graphql(url, BACKFILL_STATUS, {"id": backfill["backfillId"]})["partitionBackfillOrError"]["status"]
        if status not in {"REQUESTED", "CANCELING"}:
            break
        time.sleep(2)
    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, (status, (root / "dagster-dev.log").read_text()[-3000:])

    with instance_at(root / "dagster") as instance:
        button = instance.get_run_by_id(launched["run"]["runId"])
        assert button.tags["dagster/partition"] == "2026-11-23|local"
        for asset in ASSETS:
            assert set(days) | {"2026-11-23|local"} <= set(instance.get_materialized_partitions(AssetKey(asset)))
        documents = {
            r.partition_key: r.asset_materialization.metadata["documents"].value
            for r in instance.fetch_materializations(AssetKey("image_catalog"), limit=20).records
        }
        assert documents["2026-11-23|local"] == 1
        runs = [r for r in instance.get_runs() if r.tags.get("dagster/backfill") == backfill["backfillId"]]
        # The bounded policy held: three days at most two partitions a run is two runs.
        assert len(runs) == 2 and all(r.status.value == "SUCCESS" for r in runs), [r.tags for r in runs]


def test_planted_passwords_appear_nowhere(ui) -> None:
    """After the runs above, the passwords in MONGODB_URI and MLFLOW_TRACKING_URI are in no GraphQL answer (resource
    details, event logs with metadata), no file the runs left (event log, run storage, compute logs, catalog, MLflow
    store, server logs) and no `imgpipe` output, while both services demonstrably served the runs."""
    url, root = ui
    env = {**os.environ, **json.loads((root.parent / f"{root.name}-env.json").read_text())}
    secrets = [p.encode() for p in PASSWORDS.values()]

    def clean(what: str, data: str | bytes) -> None:
        blob = data.encode() if isinstance(data, str) else data
        assert not any(secret in blob for secret in secrets), f"a planted password appears in {what}"

    resources = json.dumps(graphql(url, RESOURCES_QUERY))
    clean("the UI's resource details", resources)
    assert '"MONGODB_URI"' in resources and '"MLFLOW_TRACKING_URI"' in resources  # shown by name, as env vars
    runs = graphql(url, RUNS_QUERY)["runsOrError"]["results"]
    assert len(runs) >= 3
    for run in runs:
        logs = json.dumps(graphql(url, LOGS_QUERY, {"id": run["runId"]}))
        assert "mlflow_run" in logs  # the metadata is there, with its link
        clean(f"the event log of run {run['runId']}", logs)
    for path in root.rglob("*"):
        if path.is_file():
            clean(str(path.relative_to(root)), path.read_bytes())

    imgpipe = [sys.executable, "-c", "import sys; from image_assets.cli import main; sys.exit(main())"]
    for argv in (["catalog", "list"], ["catalog", "list", "--json"], ["catalog", "stats"], ["runs"]):
        out = subprocess.run([*imgpipe, *argv], env=env, capture_output=True, timeout=120)
        assert out.returncode == 0, out.stderr.decode()[-2000:]
        clean(f"imgpipe {' '.join(argv)}", out.stdout + out.stderr)
        if argv[:2] == ["catalog", "list"]:
            assert out.stdout.count(b"local:") >= 4  # the documents are in the password-protected MongoDB
            assert b"http://127.0.0.1:" in out.stdout  # and link to their runs on the MLflow server
    wrong = env["MONGODB_URI"].replace(PASSWORDS["mongo"], "Wr0ng-Pl4nted-0000")
    out = subprocess.run([*imgpipe, "catalog", "list"], env=env | {"MONGODB_URI": wrong}, capture_output=True)
    assert out.returncode == 2 and b"Authentication failed" in out.stderr and out.stderr.count(b"\n") == 1
    assert b"Wr0ng-Pl4nted" not in out.stderr + out.stdout
