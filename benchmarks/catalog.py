"""The catalog at scale: upserts/s and query latency as the collection grows, embedded SQLite or MongoDB.

    .venv/bin/python benchmarks/catalog.py [--sizes 10000,100000,1000000] [--wire]

Upserts pipeline-shaped documents (random-looking ids, 500 per batch) through the project's `Catalog` into a fresh
embedded catalog: a year of 4 sources (~685 per partition at 1M; the pipeline caps an API partition at 100 by
default) plus one local-folder day of 10,000 photos, written first. At each size it times, medians of 5, the queries
the pipeline and the CLI make: get by id, one source and day, one partition, the large day's first page of 100 and
the whole of it streamed, a date range with `--limit 10`, a keyset page (`--after`) from the middle of the listing,
a PSNR-ordered page, a PSNR filter count, and `stats` for one day. At the largest size it also times the real CLI,
`imgpipe catalog list --limit 10` and `imgpipe catalog stats --date D`, in a fresh process (start-up included).
`--wire` runs the same against mongoeco's MongoDB wire-protocol server through pymongo (small sizes only: that
server slows down as its collection grows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.tables import markdown_table  # noqa: E402
from image_assets.catalog import open_catalog  # noqa: E402
from image_assets.catalog.order import DEFAULT_ORDER, ORDERS  # noqa: E402
from image_assets.settings import Settings  # noqa: E402

SOURCES = ("local", "pexels", "unsplash", "wallhaven")
BATCH = 500
DAYS = 365
FIRST_DAY = dt.date(2025, 11, 1)
LARGE_DAY, LARGE_DAY_IMAGES = "2026-11-01", 10_000  # one local folder of 10,000 photos in one partition


def document(n: int) -> dict:
    """Document n: the first LARGE_DAY_IMAGES fill the large local day, the rest spread over DAYS × SOURCES."""
    if n < LARGE_DAY_IMAGES:
        source, day = "local", LARGE_DAY
    else:
        source, day = SOURCES[n % 4], (FIRST_DAY + dt.timedelta(days=(n // 4) % DAYS)).isoformat()
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
        probe = document(min(size - 1, LARGE_DAY_IMAGES + (size - LARGE_DAY_IMAGES) // 2))
        middle = catalog.get(probe["_id"])
        queries = {
            "get by id": lambda p=probe: catalog.get(p["_id"]),
            "one source and day": lambda p=probe: list(catalog.find({"source": p["source"], "date": p["date"]})),
            "one partition": lambda p=probe: list(catalog.find({"partition_key": p["partition_key"]})),
            "10,000-image day, first 100": lambda: list(catalog.find({"date": LARGE_DAY}, limit=100)),
            "10,000-image day, all streamed": lambda: sum(1 for _ in catalog.find({"date": LARGE_DAY})),
            "date range, --limit 10": lambda: list(
                catalog.find({"date": {"$gte": "2026-03-01", "$lte": "2026-06-30"}}, limit=10)
            ),
            "--after the middle, 100": lambda m=middle: list(catalog.find(DEFAULT_ORDER.after_filter(m), limit=100)),
            "--sort lowest-psnr, 100": lambda: list(catalog.find(None, limit=100, order=ORDERS["lowest-psnr"])),
            "count psnr >= 39": lambda: catalog.count({"psnr": {"$gte": 39.0}}),
            "stats of one day": lambda p=probe: catalog.stats({"date": p["date"]}),
        }
        partition = catalog.count({"partition_key": probe["partition_key"]})
        details = {"one partition": f"{partition:,} documents", "one source and day": f"{partition:,} documents"}
        rows.append((f"{label}: upserts up to {size:,}", f"{overall:,.0f}/s", f"last batches {recent:,.0f}/s"))
        for name, fn in queries.items():
            rows.append((f"{label} at {size:,}: {name}", f"{latency_ms(fn):.1f} ms", details.get(name, "")))
    return rows


def cli_rows(home: Path, size: int) -> list[tuple[str, str, str]]:
    """The real `imgpipe` commands against the catalog under `home`, each in a fresh process (median of 3)."""
    env = {**os.environ, "IMGPIPE_HOME": str(home)}
    commands = {
        "imgpipe catalog list --limit 10": ["catalog", "list", "--limit", "10"],
        "imgpipe catalog stats --date D": ["catalog", "stats", "--date", document(size // 2)["date"]],
    }
    rows = []
    for name, argv in commands.items():
        run_cli = lambda argv=argv: subprocess.run(  # noqa: E731
            [sys.executable, "-c", "import sys; from image_assets.cli import main; sys.exit(main())", *argv],
            env=env, check=True, capture_output=True, cwd=ROOT,
        )  # fmt: skip
        rows.append((f"embedded at {size:,}: {name}", f"{latency_ms(run_cli, repeat=3):.0f} ms", "fresh process"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--wire", action="store_true", help="also the MongoDB wire-protocol server (up to 2,000)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="imgpipe-catalog-bench-") as tmp:
        home = Path(tmp) / "home"
        catalog = open_catalog(None, "bench", Settings.from_env({"IMGPIPE_HOME": str(home)}).catalog_sqlite_path)
        try:
            rows += run(catalog, sizes, "embedded")
        finally:
            catalog.close()
        rows += cli_rows(home, sizes[-1])
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
