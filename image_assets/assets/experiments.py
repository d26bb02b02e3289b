"""compression_experiment: a sample of one ingested partition compressed under a grid of rank policies.

Not partitioned and not part of the asset graph: an op job that reads `raw_images`' manifest for one
(source, date), runs one Spark job per policy into `experiments/<dagster run id>/<policy>/`, and records one
MLflow parent run with a child run per policy, so the policies compare side by side in MLflow's UI
(select the children, *Compare*). The experiment's objects are deleted afterwards unless `keep_objects`.
"""

import datetime as dt
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from dagster import Config, Failure, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from image_assets.codec import CodecError, RankPolicy
from image_assets.pipeline import ingest, layout, reports
from image_assets.pipeline.compress import compress_images
from image_assets.pipeline.manifests import ManifestMissing, read_manifest
from image_assets.pipeline.summary import compression_summary
from image_assets.resources import SparkResource, StorageResource, TrackingResource

EXPERIMENTS_AREA = "experiments"
EXPERIMENT_TAG = "policy-grid"
DEFAULT_POLICIES = ["psnr=30", "psnr=35", "psnr=40", "rank=20", "rank=50"]


class ExperimentConfig(Config):
    """Which partition to sample and which rank policies to try (each as `KIND=VALUE`, e.g. `psnr=35`)."""

    source: str = Field(description="source of an already materialized raw_images partition, e.g. `local`")
    date: str = Field(description="its partition day, YYYY-MM-DD")
    sample: int = Field(default=8, description="compress the partition's first N ok images")
    policies: list[str] = Field(default=DEFAULT_POLICIES, description="rank policies, `psnr=35`, `rank=50`, ...")
    keep_objects: bool = Field(default=False, description="keep the experiment's .svdz objects in storage")


def policy_slug(policy: RankPolicy) -> str:
    """A key-safe folder name for a policy: `psnr=35` -> `psnr-35`."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", policy.describe())


def parse_policies(texts: list[str]) -> list[RankPolicy]:
    """Parse and de-duplicate (first wins); at least one policy is required."""
    policies: dict[str, RankPolicy] = {}
    for text in texts:
        policy = RankPolicy.parse(text.strip())
        policies.setdefault(policy.describe(), policy)
    if not policies:
        raise CodecError("give at least one policy")
    return list(policies.values())


def experiment_prefix(run_id: str) -> str:
    return f"{EXPERIMENTS_AREA}/{run_id}/"


def sample_items(raw_rows: list[dict[str, Any]], day: dt.date, sample: int) -> list[dict[str, str]]:
    """The first `sample` ok raw rows as `compress_images` items."""
    ok = [row for row in raw_rows if row["status"] == "ok" and row.get("raw_key")]
    return [
        {"source": row["source"], "date": day.isoformat(), "source_id": row["source_id"], "raw_key": row["raw_key"]}
        for row in ok[:sample]
    ]


@op(
    description="Compress a sample of one raw_images partition under each rank policy; one MLflow run per policy.",
    tags={"kind": "spark"},
)
def compression_experiment(
    context: OpExecutionContext,
    config: ExperimentConfig,
    storage: StorageResource,
    spark: SparkResource,
    tracking: TrackingResource,
) -> Output[dict[str, Any]]:
    try:
        day = dt.date.fromisoformat(config.date)
    except ValueError:
        raise Failure(description=f"invalid date {config.date!r}: use YYYY-MM-DD", allow_retries=False) from None
    if config.sample < 1:
        raise Failure(description=f"sample must be at least 1, got {config.sample}", allow_retries=False)
    try:
        policies = parse_policies(config.policies)
    except CodecError as exc:
        raise Failure(description=f"bad policies: {exc}", allow_retries=False) from None
    store = storage.open()
    manifest = layout.manifest_key(ingest.ASSET, config.source, day)
    try:
        items = sample_items(read_manifest(store, manifest), day, config.sample)
    except ManifestMissing:
        raise Failure(
            description=f"no raw_images manifest for {config.source} {day}: materialize that partition first",
            allow_retries=False,
        ) from None
    if not items:
        raise Failure(description=f"{config.source} {day} has no ok raw images to sample", allow_retries=False)

    prefix = experiment_prefix(context.run_id)
    base_tags = {
        "source": config.source,
        "date": day.isoformat(),
        "dagster_run_id": context.run_id,
        "experiment": EXPERIMENT_TAG,
    }
    results: list[dict[str, Any]] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="imgpipe-experiment-") as tmp,
            tracking.run(
                f"experiment {config.source} {day} ({len(policies)} policies)", base_tags | {"role": "parent"}
            ) as parent,
        ):
            parent.params.update(
                {
                    "source": config.source,
                    "date": day.isoformat(),
                    "sample": str(len(items)),
                    "policies": ",".join(p.describe() for p in policies),
                }
            )
            all_rows: list[dict[str, Any]] = []
            for policy in policies:
                slug = policy_slug(policy)
                area = f"{EXPERIMENTS_AREA}/{context.run_id}/{slug}"
                folder = Path(tmp) / slug
                tags = base_tags | {"role": "policy", "policy": policy.describe()}
                name = f"{config.source} {day} {policy.describe()}"
                with tracking.run(name, tags, parent_run_id=parent.run_id) as child:
                    started = time.perf_counter()
                    rows = compress_images(
                        spark.spark_session, storage.spec(), items, policy, output_area=area, reuse=False
                    )
                    summary = compression_summary(rows, time.perf_counter() - started)
                    child.params.update(policy.as_params() | {"sample": len(items)})
                    child.metrics.update(summary)
                    target = policy.value if policy.kind == "psnr" else None
                    child.artifacts.append(
                        reports.rate_distortion_plot(
                            rows, folder / "rate_distortion.png", target=target, title=f"{policy.describe()}"
                        )
                    )
                    grid = reports.before_after_grid(store, rows, folder / "before_after.png")
                    if grid is not None:
                        child.artifacts.append(grid)
                context.log.info(
                    f"{policy.describe()}: {summary['images_ok']} ok, "
                    f"PSNR {summary.get('psnr_mean', float('nan')):.2f} dB, "
                    f"{summary['bytes_out']:,} bytes (MLflow run {child.run_id})"
                )
                results.append({"policy": policy.describe(), "mlflow_run_id": child.run_id, **summary})
                all_rows.extend(row | {"policy": policy.describe()} for row in rows)
            parent.metrics.update({"policies": len(policies), "images": len(items)})
            parent.artifacts.append(
                reports.rate_distortion_plot(
                    all_rows,
                    Path(tmp) / "rate_distortion_all.png",
                    group_by="policy",
                    title=f"{config.source} {day}: {len(items)} images × {len(policies)} policies",
                )
            )
    finally:
        if not config.keep_objects:
            removed = store.delete_prefix(prefix)
            context.log.info(f"removed {removed} experiment objects under {prefix}")

    table = ["| policy | images ok | PSNR mean | bits/pixel | bytes out | ratio |", "|---|---|---|---|---|---|"]
    for r in results:
        table.append(
            f"| {r['policy']} | {r['images_ok']} | {r.get('psnr_mean', float('nan')):.2f} | "
            f"{r.get('bits_per_pixel_mean', float('nan')):.3f} | {r['bytes_out']:,} | {r['compression_ratio']:.2f} |"
        )
    return Output(
        {"mlflow_parent_run_id": parent.run_id, "policies": results},
        metadata={
            "results": MetadataValue.md("\n".join(table)),
            "mlflow_parent_run_id": parent.run_id,
            "mlflow_run": MetadataValue.url(parent.link),
            "objects": MetadataValue.text(store.uri(prefix) if config.keep_objects else "removed"),
        },
    )


@job(
    description="Compress a sample of one partition under a grid of rank policies, compared in MLflow.",
    tags={"imgpipe/experiment": EXPERIMENT_TAG},
)
def compression_experiment_job() -> None:
    compression_experiment()


__all__ = ["ExperimentConfig", "compression_experiment", "compression_experiment_job", "parse_policies"]
