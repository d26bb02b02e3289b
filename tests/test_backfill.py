"""`imgpipe backfill` over 40 days: bounded runs, a run killed mid-way that the next start marks failed, and a
rerun that materializes only what is missing, leaving the catalog exact."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus
from PIL import Image

from image_assets.backfill import CHUNK_TAG, RANGE_END_TAG, RANGE_START_TAG, BackfillPlan, plan_backfill

pytestmark = pytest.mark.integration

FIRST = dt.date(2026, 9, 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(40)]
ASSETS = ["raw_images", "compressed_images", "stored_images", "image_catalog"]
IMGPIPE = Path(sys.executable).with_name("imgpipe")


def photo_per_day(folder: Path) -> None:
    """One small, distinct photo-like PNG per day, its mtime at noon UTC of that day."""
    folder.mkdir()
    rng = np.random.default_rng(3)
    ramp = np.linspace(0, 200, 96, dtype=np.float32)
    for n, day in enumerate(DAYS):
        pixels = (ramp[None, :, None] * 0.7 + ramp[:64, None, None] * 0.3 + rng.normal(n, 8, (64, 96, 3))).clip(0, 255)
        path = folder / f"day-{day.isoformat()}.png"
        Image.fromarray(pixels.astype(np.uint8)).save(path)
        noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp()
        os.utime(path, (noon, noon))


def test_plan_cuts_a_range_into_bounded_runs() -> None:
    plan = plan_backfill("local", DAYS[0], DAYS[-1])
    assert [len(chunk) for chunk in plan.chunks()] == [31, 9]
    assert plan.chunks()[1][0].key == "2026-10-02|local"
    both = BackfillPlan(("local", "pexels"), DAYS[0], DAYS[4], max_partitions=2)
    assert [[ref.key for ref in chunk] for chunk in both.chunks()] == [
        ["2026-09-01|local", "2026-09-02|local"], ["2026-09-03|local", "2026-09-04|local"], ["2026-09-05|local"],
        ["2026-09-01|pexels", "2026-09-02|pexels"], ["2026-09-03|pexels", "2026-09-04|pexels"], ["2026-09-05|pexels"],
    ]  # fmt: skip


def test_killed_backfill_is_marked_failed_and_resumes(tmp_path) -> None:
    photo_per_day(tmp_path / "photos")
    (tmp_path / "dagster").mkdir()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "IMGPIPE_HOME": str(tmp_path / "home"),
        "IMGPIPE_LOCAL_SOURCE": str(tmp_path / "photos"),
        "SPARK_MASTER": "local[2]",
    }
    argv = [str(IMGPIPE), "backfill", "--source", "local", "--from", DAYS[0].isoformat(), "--to", DAYS[-1].isoformat()]

    # First attempt: let run 1 (31 days) finish, kill -9 the whole process group as soon as run 2 has started.
    with (tmp_path / "first.log").open("wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    os.environ["DAGSTER_HOME"], previous = env["DAGSTER_HOME"], os.environ["DAGSTER_HOME"]
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and proc.poll() is None:
            with DagsterInstance.get() as instance:
                runs = {r.tags.get(CHUNK_TAG): r for r in instance.get_runs()}
            if runs.get("2/2") is not None and runs["2/2"].status == DagsterRunStatus.STARTED:
                break
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

        with DagsterInstance.get() as instance:
            runs = {r.tags.get(CHUNK_TAG): r for r in instance.get_runs()}
            assert runs["1/2"].status == DagsterRunStatus.SUCCESS
            assert runs["2/2"].status == DagsterRunStatus.STARTED  # what the UI would show forever
            assert (runs["1/2"].tags[RANGE_START_TAG], runs["1/2"].tags[RANGE_END_TAG]) == (
                "2026-09-01|local", "2026-10-01|local",
            )  # fmt: skip

        # The next imgpipe start marks the dead run failed, with the reason.
        listed = subprocess.run([str(IMGPIPE), "runs"], env=env, capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0 and "marked 1 run(s)" in listed.stdout, listed.stderr
        with DagsterInstance.get() as instance:
            dead = instance.get_run_by_id(runs["2/2"].run_id)
            assert dead.status == DagsterRunStatus.FAILURE
            failure = instance.all_logs(dead.run_id)[-1]
            assert "exited without finishing it" in (failure.dagster_event.message or failure.user_message)

        # Rerun: run 1 is skipped, only run 2's partitions are materialized.
        again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=400)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "run 1/2: 31 partition(s)" in again.stdout and "already materialized, skipped" in again.stdout
        assert "materialized 9 partition(s) in 1 run(s)" in again.stdout
        assert "encoded 9/9 images" in again.stdout  # per-image progress from the run's log
        with DagsterInstance.get() as instance:
            for asset in ASSETS:
                assert len(instance.get_materialized_partitions(AssetKey(asset))) == 40
            assert len([r for r in instance.get_runs() if r.status == DagsterRunStatus.SUCCESS]) == 2
    finally:
        os.environ["DAGSTER_HOME"] = previous

    # The catalog is exact: one document per day's photo, none twice.
    from image_assets.catalog import open_catalog

    catalog = open_catalog(None, "imgpipe", tmp_path / "home" / "catalog.db")
    try:
        docs = list(catalog.find())
        assert len(docs) == 40 and len({d["original_sha256"] for d in docs}) == 40
    finally:
        catalog.close()
