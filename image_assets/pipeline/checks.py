"""Consistency between object storage and the catalog, for image_catalog's asset checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from image_assets.pipeline import layout
from image_assets.resources.catalog import Catalog
from image_assets.resources.storage import ObjectStore


@dataclass(frozen=True)
class PartitionConsistency:
    objects: int
    documents: int
    objects_without_document: list[str]
    documents_without_object: list[str]
    duplicate_documents: int

    @property
    def matched(self) -> bool:
        return not self.objects_without_document and not self.documents_without_object


def partition_consistency(
    store: ObjectStore, catalog: Catalog, source: str, day: dt.date, partition_key: str
) -> PartitionConsistency:
    objects = set(store.list(layout.partition_prefix(layout.IMAGES, source, day)))
    documents = {doc["storage"]["key"]: doc["_id"] for doc in catalog.find({"partition_key": partition_key})}
    return PartitionConsistency(
        objects=len(objects),
        documents=len(documents),
        objects_without_document=sorted(objects - documents.keys()),
        documents_without_object=sorted(documents[key] for key in documents.keys() - objects),
        duplicate_documents=catalog.duplicate_count({"partition_key": partition_key}),
    )
