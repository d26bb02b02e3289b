"""The code location as the UI sees it: a real `dagster dev`, queried and driven through GraphQL."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pytest
from dagster import AssetKey, DagsterInstance

from image_assets.sources.local import BUNDLED_PHOTOS
from tests.dagster_server import dagster_dev, graphql, wait_for_run

pytestmark = pytest.mark.integration

ASSETS_QUERY = """
{ assetNodes { assetKey { path } dependencyKeys { path }
    partitionDefinition { dimensionTypes { name } } partitionKeysByDimension { name partitionKeys } } }
"""
LAUNCH = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }
"""


def test_ui_lists_assets_and_materializes_a_local_partition(tmp_path, scratch) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(BUNDLED_PHOTOS / "chelsea.png", photos / "chelsea.png")
    noon = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC).timestamp()
    os.utime(photos / "chelsea.png", (noon, noon))
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "IMGPIPE_HOME": str(tmp_path / "home"),
        "IMGPIPE_LOCAL_SOURCE": str(photos),
        "SPARK_MASTER": "local[2]",
    }

    with dagster_dev(env, tmp_path / "dagster-dev.log") as url:
        nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(url, ASSETS_QUERY)["assetNodes"]}
        assert set(nodes) == {"raw_images", "compressed_images", "stored_images", "image_catalog"}
        assert nodes["image_catalog"]["dependencyKeys"] == [{"path": ["stored_images"]}]
        dims = {d["name"]: d["partitionKeys"] for d in nodes["raw_images"]["partitionKeysByDimension"]}
        assert dims["source"] == ["local", "pexels", "unsplash", "wallhaven"]
        assert "2026-11-25" in dims["date"]

        # What the UI's "Materialize" button sends for one partition of the asset job.
        tags = [
            {"key": "dagster/partition", "value": "2026-11-25|local"},
            {"key": "dagster/partition/date", "value": "2026-11-25"},
            {"key": "dagster/partition/source", "value": "local"},
        ]
        params = {
            "selector": {
                "repositoryLocationName": "image_assets",
                "repositoryName": "__repository__",
                "jobName": "image_pipeline",
            },
            "executionMetadata": {"tags": tags},
            "runConfigData": {},
        }
        launched = graphql(url, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        assert wait_for_run(url, launched["run"]["runId"]) == "SUCCESS"

    os.environ["DAGSTER_HOME"], previous = str(dagster_home), os.environ["DAGSTER_HOME"]
    try:
        with DagsterInstance.get() as instance:
            event = instance.get_latest_materialization_event(AssetKey("image_catalog"))
            assert event is not None
            assert event.dagster_event.partition == "2026-11-25|local"
            assert event.asset_materialization.metadata["documents"].value == 1
    finally:
        os.environ["DAGSTER_HOME"] = previous
