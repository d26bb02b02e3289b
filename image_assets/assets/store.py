"""stored_images: compressed objects published under deterministic keys in GCS or the local store."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from image_assets.assets.partitions import (
    IMAGE_BACKFILL_POLICY,
    SERVICE_RETRY_POLICY,
    describe_refs,
    image_partitions,
    partition_refs,
)
from image_assets.pipeline import compress, layout, publish
from image_assets.pipeline.manifests import ManifestMissing, read_manifest, write_manifest
from image_assets.pipeline.summary import status_counts
from image_assets.resources import StorageResource


@asset(
    partitions_def=image_partitions,
    backfill_policy=IMAGE_BACKFILL_POLICY,
    retry_policy=SERVICE_RETRY_POLICY,
    deps=["compressed_images"],
    group_name="images",
    kinds={"gcs"},
    description="Compressed images at images/<source>/<date>/<id>.svdz; stale objects removed.",
)
def stored_images(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    refs = partition_refs(context)
    store = storage.open()
    rows = []
    for ref in refs:
        try:
            compressed_rows = read_manifest(store, layout.manifest_key(compress.ASSET, ref.source, ref.day))
        except ManifestMissing as exc:
            raise Failure(description=f"{ref.key}: upstream manifest {exc} is missing", allow_retries=False) from None
        part = publish.publish_partition(store, ref.source, ref.day, compressed_rows)
        write_manifest(store, layout.manifest_key(publish.ASSET, ref.source, ref.day), part, publish.STORED_SCHEMA)
        rows += part
    counts = status_counts(rows)
    location = store.uri(layout.partition_prefix(layout.IMAGES, refs[0].source, refs[0].day))
    return MaterializeResult(
        metadata={
            "partitions": describe_refs(refs),
            "status_counts": MetadataValue.json(counts),
            "objects": counts.get("ok", 0),
            "bytes": sum(row["bytes"] or 0 for row in rows if row["status"] == "ok"),
            "location": MetadataValue.url(location) if location.startswith("gs://") else MetadataValue.path(location),
        }
    )
