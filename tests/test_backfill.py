"""Backfills over a date range: from the terminal (`imgpipe backfill`) and from the UI (GraphQL, daemon)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time

import pytest
from dagster import AssetKey, DagsterInstance

from image_assets.backfill import RANGE_END_TAG, RANGE_START_TAG
from image_assets.cli import main
from image_assets.sources.local import BUNDLED_PHOTOS
from tests.dagster_server import dagster_dev, graphql

pytestmark = pytest.mark.integration

ASSETS = ["raw_images", "compressed_images", "stored_images", "image_catalog"]
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }
"""
BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }
"""


def photos_on(folder, days: list[dt.date]) -> None:
    folder.mkdir()
    for day in days:
        path = folder / f"chelsea-{day.isoformat()}.png"
        shutil.copy(BUNDLED_PHOTOS / "chelsea.png", path)
        noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp()
        os.utime(path, (noon, noon))


def materialized_partitions(instance: DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(AssetKey(asset)))


@pytest.fixture
def instance_env(tmp_path, monkeypatch):
    days = [dt.date(2026, 11, 20) + dt.timedelta(days=i) for i in range(6)]
    photos_on(tmp_path / "photos", days)
    env = {
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "IMGPIPE_HOME": str(tmp_path / "home"),
        "IMGPIPE_LOCAL_SOURCE": str(tmp_path / "photos"),
        "SPARK_MASTER": "local[2]",
    }
    (tmp_path / "dagster").mkdir()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_cli_and_ui_backfills_materialize_every_partition(instance_env, tmp_path, capsys) -> None:
    # Terminal: three days of `local` as one run in the persistent instance.
    assert main(["backfill", "--source", "local", "--from", "2026-11-20", "--to", "2026-11-22"]) == 0
    assert "materialized 3 partition(s)" in capsys.readouterr().out
    cli_days = {f"2026-11-{d}|local" for d in (20, 21, 22)}
    with DagsterInstance.get() as instance:
        for asset in ASSETS:
            assert materialized_partitions(instance, asset) == cli_days
        (run,) = instance.get_runs()
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == ("2026-11-20|local", "2026-11-22|local")

    # UI: the same kind of backfill launched through GraphQL and executed by the daemon of `dagster dev`.
    ui_days = [f"2026-11-{d}|local" for d in (23, 24, 25)]
    with dagster_dev(instance_env, tmp_path / "dagster-dev.log") as url:
        params = {"partitionNames": ui_days, "assetSelection": [{"path": [a]} for a in ASSETS], "fromFailure": False}
        launched = graphql(url, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        deadline, status = time.monotonic() + 420, None
        while time.monotonic() < deadline:
            status = graphql(url, BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]["status"]
            if status not in {"REQUESTED", "CANCELING"}:
                break
            time.sleep(3)
        log_tail = (tmp_path / "dagster-dev.log").read_text()[-3000:]
        assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, (status, log_tail)

    with DagsterInstance.get() as instance:
        for asset in ASSETS:
            assert materialized_partitions(instance, asset) == cli_days | set(ui_days)
        backfill_runs = [r for r in instance.get_runs() if r.tags.get("dagster/backfill") == launched["backfillId"]]
        # The single-run backfill policy held: one run covered the three UI-selected days.
        assert len(backfill_runs) == 1, [r.tags for r in backfill_runs]
        assert backfill_runs[0].status.value == "SUCCESS"
