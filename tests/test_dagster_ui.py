"""The Dagster UI (a real `dagster dev`: webserver + daemon, one for this module), driven through its GraphQL API:
the asset graph it shows, the "Materialize" button for one partition, and a partition backfill that the daemon
splits into bounded runs."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from image_assets.sources.local import BUNDLED_PHOTOS
from tests.dagster_server import dagster_dev, graphql, wait_for_run

pytestmark = pytest.mark.integration

ASSETS = ["raw_images", "compressed_images", "stored_images", "image_catalog"]
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
    env = {
        "DAGSTER_HOME": str(root / "dagster"),
        "IMGPIPE_HOME": str(root / "home"),
        "IMGPIPE_LOCAL_SOURCE": str(photos),
        "SPARK_MASTER": "local[2]",
        "IMGPIPE_BACKFILL_MAX_PARTITIONS": "2",
    }
    with dagster_dev(env, root / "dagster-dev.log") as url:
        yield url, root


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
