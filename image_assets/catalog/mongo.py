"""The catalog on MongoDB through pymongo when MONGODB_URI is set (the production catalog).

The same class also drives mongoeco's SQLite engine, the embedded catalog before `sqlite.SQLiteCatalog`; that path
is kept so `migrate.migrate_mongoeco` can read old catalog files and the tests can write one.

One document per image, `_id = "<source>:<source_id>"`, plus a unique index on (source, source_id): upserts
keyed on `_id` make reruns and concurrent runs of a partition converge on the same documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.errors import BulkWriteError

from image_assets.catalog.order import DEFAULT_ORDER, Order

COLLECTION = "images"
BATCH = 500
DUPLICATE_KEY = 11000


class MongoCatalog:
    """Thin, typed access to the images collection; the same code runs on pymongo and mongoeco."""

    def __init__(self, client: Any, database: str) -> None:
        self.client = client
        self.collection = client[database][COLLECTION]

    def ensure_indexes(self) -> None:
        self.collection.create_index(
            [("source", ASCENDING), ("source_id", ASCENDING)], unique=True, name="source_source_id"
        )
        self.collection.create_index([("partition_key", ASCENDING)], name="partition_key")
        self.collection.create_index([("date", DESCENDING), ("source", ASCENDING)], name="date_source")
        # The listing orders (order.ORDERS), each served forwards or backwards by one index.
        self.collection.create_index([("date", DESCENDING), ("_id", ASCENDING)], name="date_id")
        self.collection.create_index([("psnr", ASCENDING), ("_id", ASCENDING)], name="psnr_id")

    def upsert(self, documents: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Insert or replace documents by `_id`, in batches; returns inserted/updated counts."""
        inserted = updated = 0
        batch: list[UpdateOne] = []

        def flush() -> None:
            nonlocal inserted, updated
            if batch:
                result = self._bulk_upsert(batch)
                inserted += result[0]
                updated += result[1]
                batch.clear()

        for doc in documents:
            fields = {k: v for k, v in doc.items() if k != "_id"}
            batch.append(UpdateOne({"_id": doc["_id"]}, {"$set": fields}, upsert=True))
            if len(batch) >= BATCH:
                flush()
        flush()
        return {"inserted": inserted, "updated": updated}

    def _bulk_upsert(self, operations: list[UpdateOne]) -> tuple[int, int]:
        """One unordered bulk write; upserts that lost an insert race to a concurrent run (E11000) are
        retried once, when they match the winner's document and become plain updates."""
        try:
            result = self.collection.bulk_write(operations, ordered=False)
            return result.upserted_count, result.modified_count
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            retry = [operations[error["index"]] for error in errors]
            again = self.collection.bulk_write(retry, ordered=False)
            upserted, modified = exc.details.get("nUpserted", 0), exc.details.get("nModified", 0)
            return upserted + again.upserted_count, modified + again.modified_count

    def remove_stale(self, partition_key: str, keep_ids: Iterable[str]) -> int:
        """Delete the partition's documents that the latest run no longer produced."""
        keep = set(keep_ids)
        stale = [
            d["_id"] for d in self.collection.find({"partition_key": partition_key}, {"_id": 1}) if d["_id"] not in keep
        ]
        for start in range(0, len(stale), BATCH):
            self.collection.delete_many({"_id": {"$in": stale[start : start + BATCH]}})
        return len(stale)

    def find(
        self, query: Mapping[str, Any] | None = None, *, limit: int = 0, order: Order = DEFAULT_ORDER
    ) -> Iterator[dict[str, Any]]:
        cursor = self.collection.find(dict(query or {})).sort(order.keys())
        if limit:
            cursor = cursor.limit(limit)
        yield from cursor

    def get(self, doc_id: str) -> dict[str, Any] | None:
        return self.collection.find_one({"_id": doc_id})

    def same_content(self, partition_key: str) -> list[list[str]]:
        """Groups of document ids in a partition whose originals have the same SHA-256: one photo cataloged
        twice under different ids (a source that re-lists an upload under a new id, or a copied file).

        Reads the partition through its index; never a scan of the whole collection."""
        by_hash: dict[str, list[str]] = {}
        for doc in self.collection.find({"partition_key": partition_key}, {"_id": 1, "original_sha256": 1}):
            if doc.get("original_sha256"):
                by_hash.setdefault(doc["original_sha256"], []).append(doc["_id"])
        return sorted(sorted(ids) for ids in by_hash.values() if len(ids) > 1)

    def count(self, query: Mapping[str, Any] | None = None) -> int:
        return self.collection.count_documents(dict(query or {}))

    def stats(self, query: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        from image_assets.catalog.base import stats_row

        pipeline = [
            {"$match": dict(query or {})},
            {
                "$group": {
                    "_id": {"source": "$source", "date": "$date"},
                    "images": {"$sum": 1},
                    "bytes_in": {"$sum": "$bytes_in"},
                    "bytes_out": {"$sum": "$bytes_out"},
                    "psnr": {"$avg": "$psnr"},
                    "ssim": {"$avg": "$ssim"},
                }
            },
        ]
        rows = [
            stats_row(g["_id"]["source"], g["_id"]["date"], g["images"], g["bytes_in"], g["bytes_out"], g["psnr"],
                      g["ssim"])
            for g in self.collection.aggregate(pipeline)
        ]  # fmt: skip
        return sorted(sorted(rows, key=lambda r: r["source"]), key=lambda r: r["date"], reverse=True)

    def close(self) -> None:
        self.client.close()


# How long an operation waits for a reachable server before failing (a step retry follows, see assets/partitions.py).
DEFAULT_CLIENT_OPTIONS: dict[str, Any] = {"serverSelectionTimeoutMS": 10_000, "appname": "imgpipe"}


def open_mongo_catalog(mongodb_uri: str | None, database: str, sqlite_path: str | Path) -> MongoCatalog:
    """A real MongoDB when a URI is given, else a mongoeco SQLite catalog (the old embedded format)."""
    if mongodb_uri:
        from pymongo import MongoClient

        # Defaults only: an option the URI sets (e.g. serverSelectionTimeoutMS) is the operator's and wins.
        given = mongodb_uri.lower()
        defaults = {name: value for name, value in DEFAULT_CLIENT_OPTIONS.items() if name.lower() not in given}
        client: Any = MongoClient(mongodb_uri, **defaults)
    else:
        from mongoeco import MongoClient as EmbeddedClient
        from mongoeco.engines.sqlite import SQLiteEngine

        path = Path(sqlite_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        client = EmbeddedClient(SQLiteEngine(str(path)))
    catalog = MongoCatalog(client, database)
    catalog.ensure_indexes()
    return catalog
