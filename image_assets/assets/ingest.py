"""raw_images: the partition's photos, downloaded from their source into object storage."""

from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset

from image_assets.assets.partitions import IMAGE_BACKFILL_POLICY, describe_refs, image_partitions, partition_refs
from image_assets.pipeline.ingest import ingest_partition
from image_assets.pipeline.progress import Stopwatch
from image_assets.pipeline.summary import status_counts
from image_assets.resources import StorageResource
from image_assets.sources import SourceError, make_source


class IngestConfig(Config):
    max_images: int | None = None
    download_workers: int = 4


@asset(
    partitions_def=image_partitions,
    backfill_policy=IMAGE_BACKFILL_POLICY,
    group_name="images",
    kinds={"python"},
    description="Original photos of one source and day, as raw objects plus a Parquet manifest.",
)
def raw_images(context: AssetExecutionContext, config: IngestConfig, storage: StorageResource) -> MaterializeResult:
    refs = partition_refs(context)
    store = storage.open()
    rows = []
    watch = Stopwatch()
    # One partition at a time: list, download, write its manifest, then the next; a run over many days holds
    # one day's records at a time, and an unreachable API fails the run before that day writes anything.
    for ref in refs:
        try:
            source = make_source(ref.source)
            try:
                with watch("listing"):
                    records = list(source.discover(ref.day, limit=config.max_images))
                with watch("download"):
                    partition_rows = ingest_partition(source, store, records, ref.day, workers=config.download_workers)
            finally:
                source.close()
        except SourceError as exc:
            raise Failure(description=f"{ref.key}: {exc}", allow_retries=False) from None
        context.log.info(f"{ref.key}: {len(records)} records, statuses {status_counts(partition_rows)}")
        rows += partition_rows
    counts = status_counts(rows)
    return MaterializeResult(
        metadata={
            "partitions": describe_refs(refs),
            "records": len(rows),
            "images_ok": counts.get("ok", 0),
            "status_counts": MetadataValue.json(counts),
            "bytes": sum(row["bytes"] or 0 for row in rows),
            **watch.metadata(),
        }
    )
