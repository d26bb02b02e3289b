"""Consistency between object storage and the catalog, for image_catalog's asset checks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from image_assets.pipeline import layout
from image_assets.stores import ObjectStore

if TYPE_CHECKING:
    from image_assets.catalog import Catalog


@dataclass(frozen=True)
class PartitionConsistency:
    objects: int
    documents: int
    objects_without_document: list[str]
    documents_without_object: list[str]
    same_content: list[list[str]]

    @property
    def matched(self) -> bool:
        return not self.objects_without_document and not self.documents_without_object


def partition_consistency(
    store: ObjectStore, catalog: Catalog, source: str, day: dt.date, partition_key: str
) -> PartitionConsistency:
    """Stored objects against catalog documents of one partition, and documents that share an original image."""
    objects = set(store.list(layout.partition_prefix(layout.IMAGES, source, day)))
    documents = {doc["storage"]["key"]: doc["_id"] for doc in catalog.find({"partition_key": partition_key})}
    return PartitionConsistency(
        objects=len(objects),
        documents=len(documents),
        objects_without_document=sorted(objects - documents.keys()),
        documents_without_object=sorted(documents[key] for key in documents.keys() - objects),
        same_content=catalog.same_content(partition_key),
    )
