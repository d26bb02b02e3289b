"""Copy an old embedded catalog (mongoeco over SQLite, `catalog.sqlite`) into the new SQLite catalog.

mongoeco has no read-only mode: opening a file writes its bookkeeping (schema migrations, consumer registrations).
So the old file is opened with a read-only SQLite connection and copied with SQLite's online backup API into a
temporary file, and mongoeco reads that copy: the old database is never written, even when the copy fails half-way.
A cleanly closed catalog (no `-wal` file) is opened as immutable, which creates no `-wal`/`-shm` files beside it
either; one with a `-wal` file (a writer that crashed or is still open) is read through it, so no committed
document is missed (SQLite may then update the `-shm` index beside it, which holds no data).

mongoeco, like pymongo, returns naive datetimes that mean UTC; they are made timezone-aware before they are stored,
so their ISO strings match the ones the pipeline writes now and sort with them.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from contextlib import closing
from itertools import islice
from pathlib import Path
from typing import Any

from image_assets.catalog.base import CatalogStore

DATABASE = "imgpipe"
COLLECTION = "images"
BATCH = 500


def migrate_mongoeco(old_path: str | Path, new_catalog: CatalogStore) -> int:
    """Upsert every document of the mongoeco catalog at `old_path` into `new_catalog`, BATCH at a time; returns how
    many documents were copied. Upserts are by `_id`, so an interrupted migration can simply be run again."""
    old = Path(old_path)
    if not old.is_file():
        raise FileNotFoundError(f"no mongoeco catalog at {old}")
    # The copy is as large as the old catalog: it goes next to it (IMGPIPE_HOME), not into a possibly small /tmp.
    with tempfile.TemporaryDirectory(prefix=".imgpipe-migrate-", dir=old.parent) as scratch:
        snapshot = Path(scratch) / "catalog.sqlite"
        with (
            closing(sqlite3.connect(_read_only_uri(old), uri=True)) as source,
            closing(sqlite3.connect(snapshot)) as target,
        ):
            source.backup(target)
        return _copy(snapshot, new_catalog)


def _read_only_uri(path: Path) -> str:
    wal = path.with_name(f"{path.name}-wal")
    return f"{path.resolve().as_uri()}?mode=ro" + ("" if wal.exists() else "&immutable=1")


def _copy(snapshot: Path, new_catalog: CatalogStore) -> int:
    from mongoeco import MongoClient
    from mongoeco.engines.sqlite import SQLiteEngine

    client = MongoClient(SQLiteEngine(str(snapshot)))
    try:
        documents = iter(client[DATABASE][COLLECTION].find({}))
        copied = 0
        while batch := list(islice(documents, BATCH)):
            new_catalog.upsert([_aware(doc) for doc in batch])
            copied += len(batch)
        return copied
    finally:
        client.close()


def _aware(value: Any) -> Any:
    """The value with every naive datetime (UTC, as mongoeco returns them) made timezone-aware."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    if isinstance(value, dict):
        return {key: _aware(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_aware(item) for item in value]
    return value
