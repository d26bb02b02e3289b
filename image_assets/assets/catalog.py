"""image_catalog: one MongoDB document per stored image, upserted so reruns never duplicate."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from image_assets.assets.partitions import (
    IMAGE_BACKFILL_POLICY,
    SERVICE_RETRY_POLICY,
    describe_refs,
    image_partitions,
    partition_refs,
)
from image_assets.pipeline import compress, ingest, layout, publish
from image_assets.pipeline.checks import partition_consistency
from image_assets.pipeline.documents import build_documents
from image_assets.pipeline.manifests import ManifestMissing, read_manifest
from image_assets.resources import CatalogResource, StorageResource

OBJECTS_MATCH = "objects_match_documents"
NO_DUPLICATES = "no_duplicate_images"


@asset(
    partitions_def=image_partitions,
    backfill_policy=IMAGE_BACKFILL_POLICY,
    retry_policy=SERVICE_RETRY_POLICY,
    deps=["stored_images"],
    group_name="images",
    kinds={"mongodb"},
    check_specs=[
        AssetCheckSpec(
            OBJECTS_MATCH,
            asset="image_catalog",
            description="every stored object has a catalog document and every document an object",
        ),
        AssetCheckSpec(
            NO_DUPLICATES,
            asset="image_catalog",
            description="no two documents of a partition hold the same original image (same SHA-256)",
        ),
    ],
    description="Catalog documents (attribution, storage keys, size, rank, PSNR, timings) per stored image.",
)
def image_catalog(
    context: AssetExecutionContext, storage: StorageResource, catalog: CatalogResource
) -> MaterializeResult:
    refs = partition_refs(context)
    store = storage.open()
    db = catalog.open()
    totals = {"documents": 0, "inserted": 0, "updated": 0, "removed": 0}
    mismatches: dict[str, dict[str, list[str]]] = {}
    duplicates: dict[str, list[list[str]]] = {}
    try:
        for ref in refs:
            try:
                manifests = [
                    read_manifest(store, layout.manifest_key(asset, ref.source, ref.day))
                    for asset in (ingest.ASSET, compress.ASSET, publish.ASSET)
                ]
            except ManifestMissing as exc:
                raise Failure(
                    description=f"{ref.key}: upstream manifest {exc} is missing", allow_retries=False
                ) from None
            documents = list(build_documents(ref.key, ref.day, *manifests, run_id=context.run_id))
            written = db.upsert(documents)
            totals["inserted"] += written["inserted"]
            totals["updated"] += written["updated"]
            totals["removed"] += db.remove_stale(ref.key, (doc["_id"] for doc in documents))
            state = partition_consistency(store, db, ref.source, ref.day, ref.key)
            totals["documents"] += state.documents
            if state.same_content:
                duplicates[ref.key] = state.same_content[:20]
            if not state.matched:
                mismatches[ref.key] = {
                    "objects_without_document": state.objects_without_document[:20],
                    "documents_without_object": state.documents_without_object[:20],
                }
        # The same per-source-and-day numbers `imgpipe catalog stats` prints, for the partitions just written.
        stats = db.stats({"partition_key": {"$in": [ref.key for ref in refs]}})
    finally:
        db.close()
    return MaterializeResult(
        metadata={
            "partitions": describe_refs(refs),
            **totals,
            "catalog_stats": MetadataValue.json(stats),
        },
        check_results=[
            AssetCheckResult(
                check_name=OBJECTS_MATCH, passed=not mismatches, metadata={"mismatches": MetadataValue.json(mismatches)}
            ),
            AssetCheckResult(
                check_name=NO_DUPLICATES,
                passed=not duplicates,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "duplicate_groups": sum(len(groups) for groups in duplicates.values()),
                    "same_content": MetadataValue.json(duplicates),
                },
            ),
        ],
    )
