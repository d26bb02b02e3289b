"""image_catalog: one MongoDB document per stored image, upserted so reruns never duplicate."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, asset

from image_assets.assets.partitions import image_partitions, partition_ref
from image_assets.pipeline import compress, ingest, layout, publish
from image_assets.pipeline.documents import build_documents
from image_assets.pipeline.manifests import ManifestMissing, read_manifest
from image_assets.resources import CatalogResource, StorageResource


@asset(
    partitions_def=image_partitions,
    deps=["stored_images"],
    group_name="images",
    kinds={"mongodb"},
    description="Catalog documents (attribution, storage keys, size, rank, PSNR, timings) per stored image.",
)
def image_catalog(
    context: AssetExecutionContext, storage: StorageResource, catalog: CatalogResource
) -> MaterializeResult:
    ref = partition_ref(context)
    store = storage.open()
    try:
        manifests = [
            read_manifest(store, layout.manifest_key(asset, ref.source, ref.day))
            for asset in (ingest.ASSET, compress.ASSET, publish.ASSET)
        ]
    except ManifestMissing as exc:
        raise Failure(description=f"{ref.key}: upstream manifest {exc} is missing", allow_retries=False) from None
    documents = list(build_documents(ref.key, ref.day, *manifests, run_id=context.run_id))
    db = catalog.open()
    try:
        written = db.upsert(documents)
        removed = db.remove_stale(ref.key, (doc["_id"] for doc in documents))
        total = db.count({"partition_key": ref.key})
    finally:
        db.close()
    return MaterializeResult(metadata={
        "documents": total, "inserted": written["inserted"], "updated": written["updated"], "removed": removed,
    })
