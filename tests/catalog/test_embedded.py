"""What only the embedded SQLite catalog promises: strict filters, no NaN, atomic batches, concurrent writer
processes, crash safety, migration from mongoeco, and write cost that does not grow with the collection.

Everything here is the fast tier: SQLite files in tmp_path and a few spawned Python processes, no server."""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from image_assets.catalog import open_catalog
from image_assets.catalog.migrate import migrate_mongoeco
from image_assets.catalog.sqlite import BATCH, SAME_CONTENT, SQLiteCatalog
from tests.catalog import workers
from tests.catalog.test_catalog import DOCS, NOW, doc


@pytest.fixture
def catalog(tmp_path):
    db = SQLiteCatalog(tmp_path / "catalog.db")
    try:
        yield db
    finally:
        db.close()


def test_open_catalog_creates_folders_and_needs_no_pymongo(tmp_path) -> None:
    path = tmp_path / "deep" / "er" / "catalog.db"
    catalog = open_catalog(None, "imgpipe", path)
    assert isinstance(catalog, SQLiteCatalog) and path.is_file()
    catalog.close()
    code = "import sys, image_assets.catalog as c; c.Catalog; assert 'pymongo' not in sys.modules, 'pymongo loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_connection_settings(catalog) -> None:
    connection = catalog._writer
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == 60_000


def test_datetimes_round_trip_as_iso_strings(catalog) -> None:
    catalog.upsert([doc("local", "a", "2026-11-01"), doc("local", "b", "2026-11-02", updated_at=dt.date(2026, 1, 2))])
    assert catalog.get("local:a")["updated_at"] == "2026-11-27T12:30:00+00:00" == NOW.isoformat()
    assert catalog.get("local:b")["updated_at"] == "2026-01-02"
    # A datetime in a filter is compared as the same ISO string.
    assert [d["_id"] for d in catalog.find({"updated_at": {"$gte": NOW}})] == ["local:a"]
    assert catalog.count({"updated_at": NOW}) == 1


def test_upsert_replaces_the_whole_document(catalog) -> None:
    catalog.upsert([doc("local", "a", "2026-11-01", extra_field=1)])
    catalog.upsert([doc("local", "a", "2026-11-01")])
    assert "extra_field" not in catalog.get("local:a")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"psnr": {"$exists": True}}, "unsupported catalog filter operator '\\$exists'"),
        ({"psnr": {"$gte": 30, "$where": "1"}}, "operator '\\$where'"),
        ({"$nor": [{"source": "a"}]}, "unsupported catalog filter field '\\$nor'"),
        ({"$or": []}, "\\$or needs a non-empty list"),
        ({"$and": {"source": "a"}}, "\\$and needs a non-empty list"),
        ({"$or": [{"psnr": {"$exists": True}}]}, "operator '\\$exists'"),
        ({"storage..key": "x"}, "field 'storage..key'"),
        ({"ranks.0": 12}, "field 'ranks.0'"),
        ({"date'); DROP TABLE images; --": "x"}, "unsupported catalog filter field"),
        ({"attribution.photographer": {"$regex": ".*"}}, "only literal"),
        ({"attribution.photographer": {"$regex": "\\d+", "$options": "i"}}, "only literal"),
        ({"attribution.photographer": {"$regex": "doe", "$options": "m"}}, "unsupported \\$options"),
        ({"attribution.photographer": {"$options": "i"}}, "\\$options only goes with \\$regex"),
        ({"source": {"$in": "local"}}, "\\$in needs a list"),
        ({"storage": {"key": "x"}}, "unsupported catalog filter field|unsupported value"),
        ({"psnr": {"$gte": float("nan")}}, "NaN"),
        ({"psnr": {"$gte": None}}, "compare with a number"),
    ],
)
def test_unsupported_filters_raise(catalog, query, message) -> None:
    with pytest.raises(ValueError, match=message):
        catalog.find(query)
    with pytest.raises(ValueError, match=message):
        catalog.count(query)


def test_regex_escapes_are_literal(catalog) -> None:
    catalog.upsert([doc("local", "a", "2026-11-01", photographer="A_B\\C (x)"), doc("local", "b", "2026-11-01")])
    assert catalog.count({"attribution.photographer": {"$regex": "a_b\\\\c \\(X\\)", "$options": "i"}}) == 1
    assert catalog.count({"attribution.photographer": {"$regex": "A_B"}}) == 1  # no $options: case-sensitive
    assert catalog.count({"attribution.photographer": {"$regex": "a_b"}}) == 0


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("psnr", float("inf"), "psnr"),
        ("psnr", float("-inf"), "psnr"),
        ("psnr", float("nan"), "psnr"),
        ("timings", {"encode_s": 1.0, "total_s": float("nan")}, "timings.total_s"),
        ("ranks", [1, float("inf")], "ranks.1"),
    ],
)
def test_non_finite_floats_raise_and_write_nothing(catalog, field, value, path) -> None:
    bad = doc("local", "bad", "2026-11-01") | {field: value}
    with pytest.raises(ValueError, match=f"field '{path}' is not a finite number"):
        catalog.upsert([doc("local", "good", "2026-11-01"), bad])
    assert catalog.count() == 0


def test_a_batch_that_fails_half_way_writes_none_of_it(catalog) -> None:
    docs = [doc("local", f"{n:04d}", "2026-11-01") for n in range(2 * BATCH)]
    docs[-1] = docs[-1] | {"psnr": float("inf")}  # the last document of the second batch cannot be stored
    with pytest.raises(ValueError, match="'psnr' is not a finite number"):
        catalog.upsert(docs)
    assert catalog.count() == BATCH  # the first batch committed, nothing of the second
    assert catalog.get(docs[BATCH]["_id"]) is None

    # A failure inside the SQL transaction (the unique index, on the batch's last row) rolls back its earlier rows.
    fresh = [doc("wall", f"{n:04d}", "2026-11-02") for n in range(BATCH - 1)]
    clash = doc("local", "0000", "2026-11-02") | {"_id": "wall:clash"}
    with pytest.raises(sqlite3.IntegrityError):
        catalog.upsert([*fresh, clash])
    assert catalog.count() == BATCH and catalog.count({"source": "wall"}) == 0
    assert catalog.upsert(fresh) == {"inserted": BATCH - 1, "updated": 0}  # and the catalog still writes


def test_threads_share_one_catalog(catalog) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def write(start: int) -> dict[str, int]:
        return catalog.upsert(workers.document(n) for n in range(start, start + 300))

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(write, range(0, 1_200, 300)))
        counts = list(pool.map(lambda _: len(list(catalog.find({"source": "local"}))), range(4)))
    assert sum(r["inserted"] for r in results) == 1_200 and catalog.count() == 1_200
    assert all(0 <= n <= 1_200 for n in counts)


def test_writes_inside_a_find_loop_while_another_writer_commits(tmp_path) -> None:
    """A half-consumed find must not leave this catalog's writer on a stale snapshot (SQLITE_BUSY_SNAPSHOT)."""
    catalog, other = SQLiteCatalog(tmp_path / "catalog.db"), SQLiteCatalog(tmp_path / "catalog.db")
    try:
        catalog.upsert(workers.document(n) for n in range(1_200))
        seen = 0
        for found in catalog.find({"source": "local"}):
            if seen % 400 == 0:
                other.upsert([workers.document(10_000 + seen)])
                catalog.upsert([found | {"psnr": 1.0}])
                assert catalog.get(found["_id"])["psnr"] == 1.0  # reads see the latest write at once
            seen += 1
        assert seen == 1_200  # the stream kept its snapshot: the documents added meanwhile are not in it
        assert catalog.count() == 1_203 and catalog.count({"psnr": 1.0}) == 3
    finally:
        catalog.close()
        other.close()


def test_two_processes_write_the_same_file_at_once(tmp_path) -> None:
    path = str(tmp_path / "catalog.db")  # fresh: both processes also create the schema at the same moment
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    processes = [
        context.Process(target=workers.write_range, args=(path, start, 2_000, 500, barrier, results))
        for start in (0, 100_000)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert outcomes == [{"inserted": 2_000, "updated": 0}] * 2
    catalog = SQLiteCatalog(path)
    try:
        assert catalog.count() == 4_000
        assert catalog.count({"_id": {"$gte": "local:photo-0100000"}}) == 2_000
    finally:
        catalog.close()


def uncommitted_wal_frames(path: str) -> int:
    """Frames of the WAL's current generation (salts matching its header) after its last commit frame: pages an
    open transaction spilled to disk, which recovery must ignore."""
    data = Path(f"{path}-wal").read_bytes()
    page_size, salt = int.from_bytes(data[8:12], "big"), data[16:24]
    commits: list[bool] = []
    for offset in range(32, len(data) - 24 - page_size + 1, 24 + page_size):
        if data[offset + 8 : offset + 16] != salt:
            break
        commits.append(int.from_bytes(data[offset + 4 : offset + 8], "big") != 0)
    last_commit = max((index + 1 for index, commit in enumerate(commits) if commit), default=0)
    return len(commits) - last_commit


def test_a_writer_killed_mid_batch_leaves_whole_batches(tmp_path) -> None:
    path, batch, committed = str(tmp_path / "catalog.db"), 1_000, 2
    context = multiprocessing.get_context("spawn")
    inside = context.Event()
    writer = context.Process(target=workers.write_until_stopped, args=(path, batch, committed, inside))
    writer.start()
    try:
        assert inside.wait(timeout=120), "the writer never reached the middle of a batch"
        reader = SQLiteCatalog(path)  # meanwhile, other connections see only committed batches
        try:
            before = reader.count()
        finally:
            reader.close()
        assert before >= committed * batch and before % batch == 0
        assert uncommitted_wal_frames(path) > 0  # the open batch's pages already reached the WAL file
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(timeout=30)
    assert writer.exitcode == -signal.SIGKILL

    reopened = SQLiteCatalog(path)
    try:
        assert reopened.count() == before  # the open batch vanished whole
        assert reopened._writer.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert reopened.upsert([workers.document(n) for n in range(before, before + 10)])["inserted"] == 10
        assert reopened.count() == before + 10
    finally:
        reopened.close()


def file_digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_migrate_mongoeco_copies_every_document(tmp_path) -> None:
    from image_assets.catalog.mongo import open_mongo_catalog

    old_folder = tmp_path / "old"
    old_path = old_folder / "catalog.sqlite"
    old = open_mongo_catalog(None, "imgpipe", old_path)
    try:
        old.upsert(DOCS)
        written = {d["_id"]: d for d in old.find()}
    finally:
        old.close()
    before = file_digests(old_folder)

    with pytest.raises(ValueError, match="not an imgpipe SQLite catalog"):
        SQLiteCatalog(old_path)  # the new code refuses to write into an old file
    new = SQLiteCatalog(tmp_path / "catalog.db")
    try:
        assert migrate_mongoeco(old_path, new) == len(DOCS)
        assert new.count() == len(DOCS)
        for doc_id, original in written.items():
            copied = new.get(doc_id)
            assert copied is not None
            assert copied["updated_at"] == original["updated_at"].replace(tzinfo=dt.UTC).isoformat()
            assert {k: v for k, v in copied.items() if k != "updated_at"} == {
                k: v for k, v in original.items() if k != "updated_at"
            }
        assert new.count({"attribution.photographer": {"$regex": "doe", "$options": "i"}}) == 2
        assert migrate_mongoeco(old_path, new) == len(DOCS) and new.count() == len(DOCS)  # rerunnable
    finally:
        new.close()
    assert file_digests(old_folder) == before  # read-only: the old catalog's files are untouched
    with pytest.raises(FileNotFoundError):
        migrate_mongoeco(tmp_path / "missing.sqlite", new)


def test_same_content_reads_only_the_partition_index(catalog) -> None:
    plan = " | ".join(row[3] for row in catalog._writer.execute(f"EXPLAIN QUERY PLAN {SAME_CONTENT}", ("p",)))
    assert "images_partition_sha" in plan and "SCAN images" not in plan, plan


def test_write_cost_does_not_grow_with_the_collection(catalog, capsys) -> None:
    """20,000 documents in batches of 500: the last batches cost about what the first did (no decoding of what is
    stored), and a partition is found through its index."""
    seconds = []
    for start in range(0, 20_000, BATCH):
        batch = [workers.document(n) for n in range(start, start + BATCH)]
        started = time.perf_counter()
        catalog.upsert(batch)
        seconds.append(time.perf_counter() - started)
    assert catalog.count() == 20_000
    # Medians of five batches at each end, so one scheduling hiccup on a busy machine cannot decide the outcome.
    first, last = statistics.median(seconds[:5]), statistics.median(seconds[-5:])
    assert last < 3 * first, f"first batches {first * 1000:.1f} ms, last {last * 1000:.1f} ms"

    partition = "2026-11-14|local"
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        found = list(catalog.find({"partition_key": partition}))
        timings.append(time.perf_counter() - started)
    assert len(found) == 20_000 // 28 + (1 if 13 < 20_000 % 28 else 0)
    assert all(d["partition_key"] == partition for d in found)
    assert min(timings) < 0.050, f"find by partition took {min(timings) * 1000:.1f} ms"
    with capsys.disabled():
        print(
            f"\n[catalog scale] upserts/s: first batch {BATCH / seconds[0]:,.0f}, last batch {BATCH / seconds[-1]:,.0f}"
            f" (median first 5: {BATCH / first:,.0f}, last 5: {BATCH / last:,.0f}); "
            f"find {len(found)} docs by partition_key: {min(timings) * 1000:.1f} ms (best of 5)"
        )


def test_cli_migrate_copies_the_old_catalog(tmp_path, monkeypatch, capsys) -> None:
    from image_assets.catalog.mongo import open_mongo_catalog
    from image_assets.cli import main

    monkeypatch.setenv("IMGPIPE_HOME", str(tmp_path))
    monkeypatch.delenv("MONGODB_URI", raising=False)
    assert main(["catalog", "migrate"]) == 2 and "nothing to migrate" in capsys.readouterr().err
    old = open_mongo_catalog(None, "imgpipe", tmp_path / "catalog.sqlite")
    old.upsert(DOCS)
    old.close()
    assert main(["catalog", "migrate"]) == 0
    assert f"copied {len(DOCS)} document(s)" in capsys.readouterr().out
    new = SQLiteCatalog(tmp_path / "catalog.db")
    try:
        assert new.count() == len(DOCS)
    finally:
        new.close()


def test_opening_an_older_catalog_replaces_its_indexes(tmp_path) -> None:
    """A catalog.db written before the listing indexes existed gets them on open, loses the ones they replace,
    and keeps its documents."""
    from image_assets.catalog.sqlite import INDEXES, OBSOLETE_INDEXES

    path = tmp_path / "catalog.db"
    old = SQLiteCatalog(path)
    old.upsert(DOCS)
    with old._writer:
        for name in INDEXES:
            if name != "images_source_source_id":
                old._writer.execute(f"DROP INDEX {name}")
        for name in OBSOLETE_INDEXES:
            old._writer.execute(f"CREATE INDEX {name} ON images (date)")
    old.close()
    catalog = SQLiteCatalog(path)
    try:
        names = {row[0] for row in catalog._writer.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert set(INDEXES) <= names and not names & set(OBSOLETE_INDEXES)
        assert catalog.count() == len(DOCS)
    finally:
        catalog.close()
