"""raw_images: the partition's photos, downloaded from their source into object storage."""

from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset

from image_assets.assets.partitions import image_partitions, partition_ref
from image_assets.pipeline.ingest import ingest_partition
from image_assets.pipeline.summary import status_counts
from image_assets.resources import StorageResource
from image_assets.sources import SourceError, make_source


class IngestConfig(Config):
    max_images: int | None = None
    download_workers: int = 4


@asset(
    partitions_def=image_partitions,
    group_name="images",
    kinds={"python"},
    description="Original photos of one source and day, as raw objects plus a Parquet manifest.",
)
def raw_images(context: AssetExecutionContext, config: IngestConfig, storage: StorageResource) -> MaterializeResult:
    ref = partition_ref(context)
    try:
        source = make_source(ref.source)
        records = list(source.discover(ref.day, limit=config.max_images))
    except SourceError as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
    try:
        rows = ingest_partition(source, storage.open(), records, ref.day, workers=config.download_workers)
    finally:
        source.close()
    counts = status_counts(rows)
    context.log.info(f"{ref.key}: {len(records)} records, statuses {counts}")
    return MaterializeResult(metadata={
        "records": len(records),
        "images_ok": counts.get("ok", 0),
        "status_counts": MetadataValue.json(counts),
        "bytes": sum(row["bytes"] or 0 for row in rows),
    })
