"""The catalog at scale: upserts/s and query latency as the collection grows, embedded SQLite or MongoDB.

    .venv/bin/python benchmarks/catalog.py [--sizes 10000,100000,1000000] [--wire]

Upserts pipeline-shaped documents (random-looking ids, 28 days × 4 sources, 500 per batch) through the project's
`Catalog` into a fresh embedded catalog and, at each size, times the queries the pipeline and the CLI make: get by
id, one source and day, one partition, a date range with `--limit 10` (what `imgpipe catalog list --limit 10`
runs), a PSNR filter count, and `stats` for one day. Medians of 5. `--wire` runs the same against mongoeco's
MongoDB wire-protocol server through pymongo (small sizes only: that server slows down as its collection grows).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tables import markdown_table  # noqa: E402
from image_assets.catalog import open_catalog  # noqa: E402

SOURCES = ("local", "pexels", "unsplash", "wallhaven")
BATCH = 500


def document(n: int) -> dict:
    source, day = SOURCES[n % 4], f"2026-10-{1 + (n // 4) % 28:02d}"
    sid = hashlib.sha1(str(n).encode()).hexdigest()[:12]  # ids arrive in no particular order
    return {
        "_id": f"{source}:{sid}", "source": source, "source_id": sid, "partition_key": f"{day}|{source}",
        "date": day, "storage": {"key": f"images/{source}/{day}/{sid}.svdz", "uri": "", "raw_key": None},
        "width": 1600, "height": 1200, "channels": 3, "bytes_in": 400_000 + n % 1000, "bytes_out": 90_000,
        "psnr": 30.0 + (n % 100) / 10, "lossless": False, "ssim": 0.9, "bits_per_pixel": 0.37,
        "ranks": [120, 60, 60], "sha256": f"{n:064x}", "original_sha256": f"{n + 7:064x}",
        "attribution": {"photographer": f"photographer {n % 5000}"}, "mlflow_run_id": "r", "dagster_run_id": "d",
    }  # fmt: skip


def latency_ms(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def run(catalog, sizes: list[int], label: str) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    written = 0
    for size in sizes:
        started, count = time.perf_counter(), 0
        last_batches: list[float] = []
        while written < size:
            batch = [document(n) for n in range(written, min(written + BATCH, size))]
            t0 = time.perf_counter()
            catalog.upsert(batch)
            last_batches.append(len(batch) / (time.perf_counter() - t0))
            written += len(batch)
            count += len(batch)
        overall = count / (time.perf_counter() - started)
        recent = statistics.median(last_batches[-20:])
        probe = document(size // 2)
        queries = {
            "get by id": lambda p=probe: catalog.get(p["_id"]),
            "one source and day": lambda p=probe: list(catalog.find({"source": p["source"], "date": p["date"]})),
            "one partition": lambda p=probe: list(catalog.find({"partition_key": p["partition_key"]})),
            "date range, --limit 10": lambda: list(
                catalog.find({"date": {"$gte": "2026-10-05", "$lte": "2026-10-20"}}, limit=10)
            ),
            "count psnr >= 39": lambda: catalog.count({"psnr": {"$gte": 39.0}}),
            "stats of one day": lambda p=probe: catalog.stats({"date": p["date"]}),
        }
        rows.append((f"{label}: upserts up to {size:,}", f"{overall:,.0f}/s", f"last batches {recent:,.0f}/s"))
        for name, fn in queries.items():
            rows.append((f"{label} at {size:,}: {name}", f"{latency_ms(fn):.1f} ms", ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--wire", action="store_true", help="also the MongoDB wire-protocol server (up to 2,000)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="imgpipe-catalog-bench-") as tmp:
        catalog = open_catalog(None, "bench", Path(tmp) / "catalog.db")
        try:
            rows += run(catalog, sizes, "embedded")
        finally:
            catalog.close()
        if args.wire:
            from tests.servers import mongo_wire_server

            with mongo_wire_server(Path(tmp) / "wire.sqlite") as uri:
                wire = open_catalog(uri, "bench", "unused")
                try:
                    rows += run(wire, [500, 2000], "wire protocol")
                finally:
                    wire.close()
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
