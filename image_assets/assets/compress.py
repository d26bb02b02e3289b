"""compressed_images: SVD-compressed `.svdz` objects, encoded on Spark executors, tracked in MLflow."""

import datetime as dt
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from image_assets.assets.partitions import IMAGE_BACKFILL_POLICY, describe_refs, image_partitions, partition_refs
from image_assets.codec import CodecError, RankPolicy
from image_assets.pipeline import compress, ingest, layout, reports
from image_assets.pipeline.manifests import ManifestMissing, read_manifest, write_manifest
from image_assets.pipeline.progress import Progress, Stopwatch
from image_assets.pipeline.summary import compression_summary, quality_check, status_counts
from image_assets.resources import SparkResource, StorageResource, TrackingResource

QUALITY_CHECK = "quality_target_met"


class CompressionConfig(Config):
    """The rank policy: at most one of these; none means a 35 dB PSNR target."""

    psnr: float | None = None
    rank: int | None = None
    energy: float | None = None
    max_bytes: int | None = None

    def policy(self) -> RankPolicy:
        return RankPolicy.from_options(psnr=self.psnr, rank=self.rank, energy=self.energy, max_bytes=self.max_bytes)


@asset(
    partitions_def=image_partitions,
    backfill_policy=IMAGE_BACKFILL_POLICY,
    deps=["raw_images"],
    group_name="images",
    kinds={"spark", "mlflow"},
    check_specs=[
        AssetCheckSpec(
            QUALITY_CHECK,
            asset="compressed_images",
            description="at least 99% of compressed images meet the PSNR target",
        )
    ],
    description="Each raw photo compressed with truncated SVD (.svdz) on Spark, one MLflow run per partition.",
)
def compressed_images(
    context: AssetExecutionContext,
    config: CompressionConfig,
    storage: StorageResource,
    spark: SparkResource,
    tracking: TrackingResource,
) -> MaterializeResult:
    refs = partition_refs(context)
    store = storage.open()
    items = []
    try:
        policy = config.policy()
        for ref in refs:
            raw_rows = read_manifest(store, layout.manifest_key(ingest.ASSET, ref.source, ref.day))
            items += [{**row, "date": ref.day.isoformat()} for row in raw_rows if row["status"] == "ok"]
    except (CodecError, ManifestMissing) as exc:
        raise Failure(description=f"{describe_refs(refs)}: {exc}", allow_retries=False) from None

    # While Spark encodes, the driver is idle: open MLflow (a fresh SQLite store runs its schema migrations) and
    # import matplotlib then, rather than after the encode (or during Spark's own start-up, which it would slow).
    warmed: list[Future[Any]] = []

    def warm_up() -> None:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imgpipe-warm-up")
        warmed.extend([pool.submit(tracking.tracker().experiment_id), pool.submit(reports.warm_up)])
        pool.shutdown(wait=False)

    started = time.perf_counter()
    progress = Progress(total=len(items), emit=context.log.info)
    watch = Stopwatch()
    rows = compress.compress_images(
        lambda: spark.spark_session, storage.spec(), items, policy, watch=watch, while_encoding=warm_up,
        on_progress=lambda done, _total: progress.update(done, force=done == len(items)),
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    for future in warmed:
        future.exception()  # wait; a failure shows again, with its message, where the real call happens
    reused = sum(1 for row in rows if row.get("reused"))
    groups = compress.group_by_partition(rows)
    base_tags = {"dagster_run_id": context.run_id, "policy": policy.describe()}
    params = policy.as_params() | compress.codec_params(rows)
    # A backfill gets a parent MLflow run; each partition is a child run beneath it.
    parent = tracking.run(f"backfill {describe_refs(refs)}", base_tags) if len(refs) > 1 else nullcontext()
    runs = []
    with tempfile.TemporaryDirectory(prefix="imgpipe-reports-") as tmp, parent as parent_run, watch("mlflow_reports"):
        for ref in refs:
            part = groups.get((ref.source, ref.day.isoformat()), [])
            tags = base_tags | {"source": ref.source, "date": ref.day.isoformat(), "partition": ref.key}
            with tracking.run(
                f"{ref.key} {policy.describe()}", tags, parent_run_id=parent_run.run_id if parent_run else None
            ) as run:
                # The manifest names the MLflow run, so every catalog document built from it can link to it.
                part = [row | {"mlflow_run_id": run.run_id, "mlflow_experiment_id": run.experiment_id} for row in part]
                with watch("manifests"):
                    manifest = layout.manifest_key(compress.ASSET, ref.source, ref.day)
                    write_manifest(store, manifest, part, compress.COMPRESSED_SCHEMA)
                    compress.remove_stale_staging(store, ref.source, ref.day, part)
                run.params.update(params)
                run.metrics.update(compression_summary(part, elapsed * len(part) / max(len(rows), 1)))
                folder = Path(tmp) / ref.key.replace("|", "_")
                target = policy.value if policy.kind == "psnr" else None
                run.artifacts.append(
                    reports.rate_distortion_plot(part, folder / "rate_distortion.png", target=target, title=ref.key)
                )
                grid = reports.before_after_grid(
                    store, with_object_keys(part), folder / "before_after.png", key_field="object_key"
                )
                if grid is not None:
                    run.artifacts.append(grid)
            runs.append(run)

    summary = compression_summary(rows, elapsed)
    counts = status_counts(rows)
    passed, check_metadata = quality_check(rows, policy)
    context.log.info(
        f"{describe_refs(refs)}: compressed {summary['images_ok']} images ({reused} reused from earlier runs), "
        f"statuses {counts}"
    )
    return MaterializeResult(
        metadata={
            "partitions": describe_refs(refs),
            "status_counts": MetadataValue.json(counts),
            **{name: MetadataValue.float(float(value)) for name, value in summary.items()},
            "policy": policy.describe(),
            "images_reused": reused,
            **watch.metadata(),
            "preview": MetadataValue.md(
                next(
                    (
                        reports.preview_markdown(store, row, key_field="object_key")
                        for row in with_object_keys(rows)
                        if row["status"] == "ok"
                    ),
                    "_no compressed images_",
                )
            ),
            "mlflow_run_id": runs[0].run_id if len(runs) == 1 else MetadataValue.json([r.run_id for r in runs]),
            "mlflow_run": MetadataValue.url(runs[0].link),
        },
        check_results=[AssetCheckResult(check_name=QUALITY_CHECK, passed=passed, metadata=check_metadata)],
    )


def with_object_keys(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with `object_key`: the staged object, or the published one when a rerun reused it."""

    def key(row: dict[str, Any]) -> str:
        day = dt.date.fromisoformat(row["date"])
        return row.get("staged_key") or layout.image_key(row["source"], day, row["source_id"])

    return [row | {"object_key": key(row)} for row in rows]
