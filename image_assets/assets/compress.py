"""compressed_images: SVD-compressed `.svdz` objects, encoded on Spark executors, tracked in MLflow."""

import time

from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset

from image_assets.assets.partitions import image_partitions, partition_ref
from image_assets.codec import CodecError, RankPolicy
from image_assets.pipeline import compress, ingest, layout
from image_assets.pipeline.manifests import ManifestMissing, read_manifest, write_manifest
from image_assets.pipeline.summary import compression_summary, status_counts
from image_assets.resources import SparkResource, StorageResource, TrackingResource


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
    deps=["raw_images"],
    group_name="images",
    kinds={"spark", "mlflow"},
    description="Each raw photo compressed with truncated SVD (.svdz) on Spark, one MLflow run per partition.",
)
def compressed_images(
    context: AssetExecutionContext,
    config: CompressionConfig,
    storage: StorageResource,
    spark: SparkResource,
    tracking: TrackingResource,
) -> MaterializeResult:
    ref = partition_ref(context)
    store = storage.open()
    try:
        policy = config.policy()
        raw_rows = read_manifest(store, layout.manifest_key(ingest.ASSET, ref.source, ref.day))
    except (CodecError, ManifestMissing) as exc:
        raise Failure(description=f"{ref.key}: {exc}", allow_retries=False) from None
    ready = [row for row in raw_rows if row["status"] == "ok"]
    tags = {"source": ref.source, "date": ref.day.isoformat(), "partition": ref.key,
            "dagster_run_id": context.run_id}
    with tracking.run(f"{ref.key} {policy.describe()}", tags) as run:
        started = time.perf_counter()
        rows = compress.compress_partition(spark.spark_session, storage.spec(), ref.source, ref.day, ready, policy)
        elapsed = time.perf_counter() - started
        write_manifest(store, layout.manifest_key(compress.ASSET, ref.source, ref.day), rows,
                       compress.COMPRESSED_SCHEMA)
        compress.remove_stale_staging(store, ref.source, ref.day, rows)
        summary = compression_summary(rows, elapsed)
        run.params.update(policy.as_params())
        run.metrics.update(summary)
    counts = status_counts(rows)
    context.log.info(f"{ref.key}: compressed {summary['images_ok']} images, statuses {counts}")
    return MaterializeResult(metadata={
        "status_counts": MetadataValue.json(counts),
        **{name: MetadataValue.float(float(value)) for name, value in summary.items()},
        "policy": policy.describe(),
        "mlflow_run_id": run.run_id,
        "mlflow_run": MetadataValue.text(f"{tracking.tracking_uri} {run.ui_path}"),
    })
