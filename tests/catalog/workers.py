"""Process bodies for the multi-process catalog tests, started with multiprocessing's "spawn" context.

A module of its own, so that a spawned child imports only this and the SQLite catalog, not pytest or pymongo.
"""

from __future__ import annotations

import time
from typing import Any

PADDING = "x" * 2_000  # a few KB per document, so a batch spans many pages


def document(n: int, *, padding: str = "") -> dict[str, Any]:
    day = f"2026-11-{1 + n % 28:02d}"
    return {
        "_id": f"local:photo-{n:07d}",
        "source": "local",
        "source_id": f"photo-{n:07d}",
        "partition_key": f"{day}|local",
        "date": day,
        "psnr": 30.0 + n % 10,
        "storage": {"key": f"images/local/{day}/photo-{n:07d}.svdz"},
        "original_sha256": f"{n:064x}",
        "padding": padding,
    }


def write_range(path: str, start: int, count: int, batch: int, barrier: Any, results: Any) -> None:
    """Open the catalog together with the other writer (the barrier), then upsert `count` documents."""
    from image_assets.catalog.sqlite import SQLiteCatalog

    barrier.wait(timeout=60)
    catalog = SQLiteCatalog(path, batch_size=batch)
    try:
        results.put(catalog.upsert(document(n) for n in range(start, start + count)))
    finally:
        catalog.close()


def write_until_stopped(path: str, batch: int, committed_batches: int, inside: Any) -> None:
    """Upsert batches until, `committed_batches` batches in, the writer stops dead half-way through the next batch's
    open write transaction (half of its rows written) and tells the parent, which then kills it."""
    from image_assets.catalog.sqlite import SQLiteCatalog

    catalog = SQLiteCatalog(path, batch_size=batch)
    connection = catalog._writer  # the test reaches in: there is no public hook inside a transaction
    connection.execute("PRAGMA cache_size = 20")  # a tiny page cache: uncommitted pages spill into the WAL file
    half_way = committed_batches * batch + batch // 2  # rows this connection has written by then

    def progress() -> int:
        if connection.in_transaction and connection.total_changes >= half_way:
            inside.set()
            time.sleep(600)  # holding the write transaction open until SIGKILL
        return 0

    connection.set_progress_handler(progress, 100)
    catalog.upsert(document(n, padding=PADDING) for n in range(10**7))
