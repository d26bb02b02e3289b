"""The policy-grid experiment job on real components: local store, Spark local, MLflow SQLite."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from dagster import DagsterInstance, materialize
from mlflow.tracking import MlflowClient
from PIL import Image

from image_assets.assets.experiments import compression_experiment_job, parse_policies, policy_slug
from image_assets.assets.ingest import raw_images
from image_assets.codec import CodecError, RankPolicy, decode
from image_assets.resources import build_resources
from image_assets.settings import Settings
from image_assets.sources.local import BUNDLED_PHOTOS
from image_assets.stores import open_store

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 11, 20)
PHOTOS = ["chelsea.png", "coffee.png"]


@pytest.fixture(scope="module")
def partition(tmp_path_factory, spark_resource):
    """A temp IMGPIPE_HOME whose `local` partition for DAY holds two small photos in raw_images."""
    root = tmp_path_factory.mktemp("experiments")
    folder = root / "photos"
    folder.mkdir()
    noon = dt.datetime.combine(DAY, dt.time(12), tzinfo=dt.UTC).timestamp()
    for name in PHOTOS:
        with Image.open(BUNDLED_PHOTOS / name) as img:
            img.thumbnail((128, 128))
            img.save(folder / name)
        os.utime(folder / name, (noon, noon))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("IMGPIPE_HOME", str(root / "home"))
        mp.setenv("IMGPIPE_LOCAL_SOURCE", str(folder))
        settings = Settings.from_env()
        resources = build_resources(settings) | {"spark": spark_resource}
        instance = DagsterInstance.ephemeral()
        result = materialize(
            [raw_images], partition_key=f"{DAY.isoformat()}|local", resources=resources, instance=instance
        )
        assert result.success
        yield settings, resources, instance


def run_experiment(partition, raise_on_error: bool = True, **config):
    _, resources, instance = partition
    return compression_experiment_job.execute_in_process(
        run_config={
            "ops": {"compression_experiment": {"config": {"source": "local", "date": DAY.isoformat(), **config}}}
        },
        resources=resources,
        instance=instance,
        raise_on_error=raise_on_error,
    )


def artifact_names(client: MlflowClient, run_id: str) -> set[str]:
    return {item.path for item in client.list_artifacts(run_id)}


def test_policy_grid_logs_parent_and_children(partition) -> None:
    settings, _, _ = partition
    policies = ["psnr=30", "psnr=40", "rank=4"]
    result = run_experiment(partition, policies=policies)
    assert result.success
    output = result.output_for_node("compression_experiment")

    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    runs = client.search_runs([experiment.experiment_id], f"tags.dagster_run_id = '{result.run_id}'")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == len(policies)
    parent = parents[0]
    assert parent.info.run_id == output["mlflow_parent_run_id"]
    assert parent.info.status == "FINISHED"
    assert parent.data.params["policies"] == ",".join(policies)
    assert "rate_distortion_all.png" in artifact_names(client, parent.info.run_id)

    by_policy = {}
    for child in children:
        tags = child.data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        assert (tags["source"], tags["date"], tags["experiment"]) == ("local", DAY.isoformat(), "policy-grid")
        policy = RankPolicy(child.data.params["policy"], float(child.data.params["policy_value"]))
        assert tags["policy"] == policy.describe()
        metrics = child.data.metrics
        assert metrics["images_ok"] == len(PHOTOS) and metrics["images_failed"] == 0
        assert metrics["bytes_out"] > 0 and metrics["compression_ratio"] > 1
        assert {"psnr_mean", "ssim_mean", "bits_per_pixel_mean"} <= metrics.keys()
        assert {"rate_distortion.png", "before_after.png"} <= artifact_names(client, child.info.run_id)
        by_policy[policy.describe()] = metrics
    assert sorted(by_policy) == sorted(policies)

    # A higher PSNR target buys a higher PSNR with more bits; each target is met.
    low, high = by_policy["psnr=30"], by_policy["psnr=40"]
    assert 30 <= low["psnr_mean"] < 40 <= high["psnr_mean"]
    assert low["bits_per_pixel_mean"] < high["bits_per_pixel_mean"]
    assert by_policy["rank=4"]["psnr_mean"] < low["psnr_mean"]

    # The experiment's objects are gone; the partition's raw objects are untouched.
    store = open_store(settings.storage_url)
    assert list(store.list("experiments/")) == []
    assert len(list(store.list(f"raw/local/{DAY.isoformat()}/"))) == len(PHOTOS)


def test_keep_objects_leaves_decodable_svdz(partition) -> None:
    settings, _, _ = partition
    result = run_experiment(partition, policies=["rank=5"], sample=1, keep_objects=True)
    assert result.success
    store = open_store(settings.storage_url)
    keys = list(store.list(f"experiments/{result.run_id}/"))
    assert len(keys) == 1
    assert keys[0].startswith(f"experiments/{result.run_id}/rank-5/local/{DAY.isoformat()}/")
    assert decode(store.get(keys[0])).shape[:2] in {(85, 128), (128, 85)}


def failure_message(result) -> str:
    assert not result.success
    (event,) = [e for e in result.all_events if e.is_step_failure]
    return event.step_failure_data.user_failure_data.description


def test_bad_config_fails_before_spark(partition) -> None:
    settings, _, _ = partition
    result = run_experiment(partition, raise_on_error=False, policies=["psnr=30", "bogus=1"])
    assert failure_message(result).startswith("bad policies: unknown rank policy 'bogus'")

    result = run_experiment(partition, raise_on_error=False, policies=["rank=5"], date="2026-11-21")
    assert failure_message(result) == "no raw_images manifest for local 2026-11-21: materialize that partition first"

    # Neither run opened an MLflow run.
    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    assert experiment is None or not client.search_runs(
        [experiment.experiment_id], f"tags.dagster_run_id = '{result.run_id}'"
    )


def test_parse_policies() -> None:
    assert [p.describe() for p in parse_policies(["psnr=35", " rank=20", "psnr=35.0"])] == ["psnr=35", "rank=20"]
    assert policy_slug(RankPolicy.parse("energy=0.9")) == "energy-0.9"
    with pytest.raises(CodecError):
        parse_policies([])
    with pytest.raises(CodecError):
        parse_policies(["psnr"])
