"""What the services behind the pipeline sustain here: catalog upserts/s and object puts/s.

    .venv/bin/python benchmarks/services.py [--documents 2000] [--objects 300]

Catalog upserts go through the project's `Catalog` (batches of 500, the pipeline's document shape) into the
embedded SQLite catalog and into mongoeco's MongoDB wire-protocol server through a real pymongo client.
Object puts of 100 KB (a typical `.svdz`) go through the project's stores to a local directory and to the GCS
emulator through the real google-cloud-storage client. The numbers back the 1M-image projection in
docs/projection.md; they are not a stand-in for production MongoDB or GCS.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def document(n: int) -> dict:
    return {
        "_id": f"local:photo-{n:07d}",
        "source": "local",
        "source_id": f"photo-{n:07d}",
        "partition_key": f"2026-11-{1 + n % 28:02d}|local",
        "date": f"2026-11-{1 + n % 28:02d}",
        "storage": {"key": f"images/local/2026-11-01/photo-{n:07d}.svdz", "uri": "", "raw_key": None},
        "width": 1600, "height": 1200, "channels": 3, "bytes_in": 400_000, "bytes_out": 90_000,
        "psnr": 35.2, "ssim": 0.93, "bits_per_pixel": 0.37, "ranks": [120, 60, 60],
        "sha256": f"{n:064x}", "original_sha256": f"{n + 1:064x}",
    }  # fmt: skip


def upserts_per_second(catalog, count: int, steps: int = 4) -> list[tuple[int, float]]:
    """(documents in the collection after the step, upserts/s during the step) for `steps` equal steps."""
    out, per_step = [], count // steps
    for step in range(steps):
        docs = [document(n) for n in range(step * per_step, (step + 1) * per_step)]
        started = time.perf_counter()
        catalog.upsert(docs)
        out.append(((step + 1) * per_step, per_step / (time.perf_counter() - started)))
    return out


def puts_per_second(store, count: int, threads: int = 8) -> float:
    payload = os.urandom(100_000)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda n: store.put(f"bench/object-{n:06d}.svdz", payload), range(count)))
    return count / (time.perf_counter() - started)


def main() -> int:
    from benchmarks.tables import markdown_table
    from image_assets.catalog import open_catalog
    from image_assets.stores import GCSObjectStore, LocalObjectStore
    from tests.servers import gcs_emulator, mongo_wire_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--objects", type=int, default=300)
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="imgpipe-services-") as tmp:
        work = Path(tmp)
        embedded = open_catalog(None, "bench", work / "catalog.db")
        for size, rate in upserts_per_second(embedded, args.documents):
            rows.append(("catalog upserts, embedded (SQLite)", f"{rate:,.0f}/s", f"at {size:,} documents"))
        embedded.close()
        with mongo_wire_server(work / "wire.sqlite") as uri:
            wire = open_catalog(uri, "bench", "unused")
            for size, rate in upserts_per_second(wire, args.documents):
                rows.append(("catalog upserts, wire protocol (pymongo)", f"{rate:,.0f}/s", f"at {size:,} documents"))
            wire.close()
        rate = puts_per_second(LocalObjectStore(work / "objects"), args.objects)
        rows.append(("object puts, local directory (100 KB)", f"{rate:,.0f}/s", "8 threads"))
        with gcs_emulator("bench") as host:
            store = GCSObjectStore("gs://bench/p", endpoint=host, project="bench")
            rate = puts_per_second(store, args.objects)
            rows.append(("object puts, GCS emulator (100 KB)", f"{rate:,.0f}/s", "8 threads, real GCS client"))
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
