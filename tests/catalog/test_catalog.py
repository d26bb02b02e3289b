"""The same catalog contract on both backends: the embedded SQLite catalog and MongoDB through pymongo (mongoeco's
wire-protocol server, `integration`). Filters are built by the CLI's own `build_query`, so these are the queries
`imgpipe catalog list` really sends."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import uuid
from typing import Any

import pytest
from pymongo.errors import BulkWriteError

from image_assets.catalog import Catalog, CatalogStore, open_catalog
from image_assets.catalog.order import ORDERS, combine
from image_assets.cli.catalog_commands import build_query

NOW = dt.datetime(2026, 11, 27, 12, 30, tzinfo=dt.UTC)


def doc(
    source: str,
    sid: str,
    date: str,
    psnr: float | None = 35.0,
    photographer: str | None = None,
    sha: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "_id": f"{source}:{sid}",
        "source": source,
        "source_id": sid,
        "partition_key": f"{date}|{source}",
        "date": date,
        "psnr": psnr,
        "storage": {"key": f"images/{source}/{date}/{sid}.svdz", "raw_key": None},
        "attribution": {"photographer": photographer},
        "original_sha256": sha,
        "ranks": [12, 6, 6],
        "updated_at": NOW,
        **extra,
    }


DOCS = [
    doc("local", "a", "2026-11-01", 31.0, "Jane Doe", sha="h1"),
    doc("local", "b", "2026-11-02", 36.5, "JOHN DOE", sha="h1"),
    doc("pexels", "c", "2026-11-03", 38.0, "Al Smith (Studio)"),
    doc("pexels", "d", "2026-11-04", 40.0, None),
    doc("local", "cat", "2026-11-05", 33.0, "Zoë's Café"),
    doc("local", "camera", "2026-11-05", 35.0, "a.b+c"),
]


def cli_query(**options: Any) -> dict[str, Any]:
    """The filter `imgpipe catalog list` sends for these options."""
    defaults = {"source": None, "date": None, "date_from": None, "date_to": None, "min_psnr": None}
    return build_query(argparse.Namespace(**(defaults | {"photographer": None, "limit": 0} | options)))


@pytest.fixture(params=["embedded", pytest.param("mongodb", marks=pytest.mark.integration)])
def catalog(request, tmp_path):
    """An empty catalog: SQLite in tmp_path, or a fresh database on the wire-protocol server."""
    if request.param == "embedded":
        db = open_catalog(None, "imgpipe", tmp_path / "catalog.db")
    else:
        db = open_catalog(request.getfixturevalue("mongodb_uri"), f"cat_{uuid.uuid4().hex[:12]}", "unused")
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def filled(catalog):
    assert catalog.upsert(DOCS) == {"inserted": len(DOCS), "updated": 0}
    return catalog


def ids(docs) -> list[str]:
    return [d["_id"] for d in docs]


def test_both_backends_are_the_catalog_protocol(catalog) -> None:
    assert Catalog is CatalogStore
    assert isinstance(catalog, CatalogStore)


def test_upsert_counts_inserts_and_updates(catalog) -> None:
    assert catalog.upsert(DOCS[:3]) == {"inserted": 3, "updated": 0}
    later = NOW + dt.timedelta(hours=1)  # a rerun: every document gets a new updated_at, like the pipeline's
    changed = [DOCS[0] | {"psnr": 31.5, "updated_at": later}, DOCS[1] | {"updated_at": later}, DOCS[3]]
    assert catalog.upsert(changed) == {"inserted": 1, "updated": 2}
    assert catalog.get("local:a")["psnr"] == 31.5
    assert catalog.count() == 4
    assert catalog.upsert([]) == {"inserted": 0, "updated": 0}


def test_rerun_leaves_one_document_per_id(catalog) -> None:
    assert catalog.upsert(DOCS)["inserted"] == len(DOCS)
    rerun = [d | {"updated_at": NOW + dt.timedelta(days=1)} for d in DOCS]
    assert catalog.upsert(rerun) == {"inserted": 0, "updated": len(DOCS)}
    assert catalog.upsert(iter(rerun))["inserted"] == 0  # any iterable, byte-identical rewrites included
    assert catalog.count() == len(DOCS)
    assert sorted(ids(catalog.find())) == sorted(d["_id"] for d in DOCS)
    # The same _id twice in one batch: inserted once, then updated; the later document wins.
    twice = [doc("wall", "w", "2026-11-06", 30.0), doc("wall", "w", "2026-11-06", 44.0)]
    assert catalog.upsert(twice) == {"inserted": 1, "updated": 1}
    assert catalog.count({"source": "wall"}) == 1 and catalog.get("wall:w")["psnr"] == 44.0


def test_source_and_source_id_are_unique(filled) -> None:
    clash = doc("local", "a", "2026-11-01") | {"_id": "local:other-id"}
    with pytest.raises((sqlite3.IntegrityError, BulkWriteError)):
        filled.upsert([clash])
    assert filled.get("local:other-id") is None
    assert filled.count() == len(DOCS)
    assert filled.count({"source": "local", "source_id": "a"}) == 1


def test_remove_stale(filled) -> None:
    more = [doc("local", sid, "2026-11-05") for sid in ("x", "y")]
    filled.upsert(more)
    assert filled.remove_stale("2026-11-05|local", (i for i in ["local:cat", "local:y"])) == 2
    assert sorted(ids(filled.find({"partition_key": "2026-11-05|local"}))) == ["local:cat", "local:y"]
    assert filled.remove_stale("2026-11-05|local", ["local:cat", "local:y"]) == 0
    assert filled.count() == len(DOCS)  # other partitions untouched
    assert filled.remove_stale("2026-11-05|local", []) == 2
    assert filled.remove_stale("no-such-partition", []) == 0


def test_find_orders_newest_first_then_by_id_and_limits(filled) -> None:
    everything = ids(filled.find())
    assert everything == ["local:camera", "local:cat", "pexels:d", "pexels:c", "local:b", "local:a"]
    assert ids(filled.find(None, limit=2)) == ["local:camera", "local:cat"]
    assert ids(filled.find({}, limit=0)) == everything
    assert ids(filled.find({"source": "local"}, limit=1)) == ["local:camera"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("newest", ["local:camera", "local:cat", "pexels:e", "pexels:d", "pexels:c", "local:b", "local:a"]),
        ("oldest", ["local:a", "local:b", "pexels:c", "pexels:d", "pexels:e", "local:cat", "local:camera"]),
        ("lowest-psnr", ["local:a", "local:cat", "local:camera", "pexels:e", "local:b", "pexels:c", "pexels:d"]),
        ("highest-psnr", ["pexels:d", "pexels:c", "local:b", "pexels:e", "local:camera", "local:cat", "local:a"]),
    ],
)
def test_each_order_is_total_and_pages_by_key(filled, name, expected) -> None:
    """Every order breaks ties by id (three documents share 2026-11-05, two share PSNR 35), ascending and descending
    are exact reverses, and pages of any size joined by `after_filter` give the whole listing once."""
    filled.upsert([doc("pexels", "e", "2026-11-05", 35.0)])
    order = ORDERS[name]
    assert ids(filled.find(order=order)) == expected
    for size in (1, 2, 3, 7):
        pages, after = [], None
        while True:
            query = order.after_filter(filled.get(after)) if after else {}
            page = ids(filled.find(query, limit=size, order=order))
            if not page:
                break
            pages += page
            after = page[-1]
        assert pages == expected, size
    # Paging composes with the CLI's filters.
    local = [i for i in expected if i.startswith("local:")]
    first = ids(filled.find(cli_query(source="local"), limit=2, order=order))
    rest = ids(filled.find(combine(cli_query(source="local"), order.after_filter(filled.get(first[-1]))), order=order))
    assert first + rest == local


def test_find_with_each_cli_filter(filled) -> None:
    def listed(**options: Any) -> list[str]:
        query = cli_query(**options)
        found = ids(filled.find(query))
        assert filled.count(query) == len(found)
        return found

    assert listed(source="pexels") == ["pexels:d", "pexels:c"]
    assert listed(date="2026-11-05") == ["local:camera", "local:cat"]
    assert listed(date_from="2026-11-02", date_to="2026-11-03") == ["pexels:c", "local:b"]  # inclusive
    assert listed(date_from="2026-11-04") == ["local:camera", "local:cat", "pexels:d"]
    assert listed(date_to="2026-11-01") == ["local:a"]
    assert listed(min_psnr="36.5") == ["pexels:d", "pexels:c", "local:b"]  # inclusive
    # Photographer: case-insensitive substring, regex characters taken literally, a missing name never matches.
    assert listed(photographer="doe") == ["local:b", "local:a"]
    assert listed(photographer="SMITH (STU") == ["pexels:c"]
    assert listed(photographer="zoË's") == ["local:cat"]
    assert listed(photographer="a.b+c") == ["local:camera"]
    assert listed(photographer=".*") == []
    assert listed(photographer="a.b") == ["local:camera"]  # the dot is a dot, not "any character"
    both = listed(source="local", date_from="2026-11-01", date_to="2026-11-03", min_psnr="32", photographer="Doe")
    assert both == ["local:b"]
    assert ids(filled.find(cli_query(photographer="doe"), limit=1)) == ["local:b"]


def test_find_by_dotted_path_and_operators(filled) -> None:
    assert ids(filled.find({"storage.key": "images/pexels/2026-11-03/c.svdz"})) == ["pexels:c"]
    assert ids(filled.find({"storage.key": "images/nowhere"})) == []
    assert ids(filled.find({"_id": "local:a"})) == ["local:a"]
    assert ids(filled.find({"source": {"$in": ["pexels", "wall"]}})) == ["pexels:d", "pexels:c"]
    assert ids(filled.find({"source": {"$ne": "local"}})) == ["pexels:d", "pexels:c"]
    assert ids(filled.find({"psnr": {"$gt": 36.5, "$lt": 40}})) == ["pexels:c"]
    assert ids(filled.find({"attribution.photographer": None})) == ["pexels:d"]
    assert ids(filled.find({"attribution.photographer": "Jane Doe", "date": "2026-11-01"})) == ["local:a"]
    assert filled.count({"original_sha256": {"$ne": None}}) == 2
    assert filled.count({"source": {"$in": []}}) == 0
    assert filled.count({"source": "x' OR '1'='1"}) == 0  # values are parameters, never SQL


def test_get(filled) -> None:
    found = filled.get("pexels:c")
    assert found["_id"] == "pexels:c" and found["attribution"]["photographer"] == "Al Smith (Studio)"
    assert found["storage"] == {"key": "images/pexels/2026-11-03/c.svdz", "raw_key": None}
    assert found["ranks"] == [12, 6, 6] and found["psnr"] == 38.0
    assert filled.get("pexels:missing") is None


def test_count(filled) -> None:
    assert filled.count() == len(DOCS)
    assert filled.count(None) == len(DOCS)
    assert filled.count({"source": "local"}) == 4
    assert filled.count(cli_query(min_psnr="35")) == 4


def test_same_content(catalog) -> None:
    day = "2026-11-07"
    catalog.upsert(
        [
            doc("local", "p1", day, sha="same"),
            doc("local", "p2", day, sha="other"),
            doc("local", "p3", day, sha="same"),
            doc("local", "p4", day, sha="twice"),
            doc("local", "p0", day, sha="twice"),
            doc("local", "n1", day, sha=None),
            doc("local", "n2", day, sha=None),
            doc("local", "e1", day, sha=""),
            doc("local", "e2", day, sha=""),
            doc("local", "q1", "2026-11-08", sha="same"),  # another partition: never grouped with this one
        ]
    )
    assert catalog.same_content(f"{day}|local") == [["local:p0", "local:p4"], ["local:p1", "local:p3"]]
    assert catalog.same_content("2026-11-08|local") == []
    assert catalog.same_content("no-such-partition") == []


def test_stats_per_source_and_day(catalog) -> None:
    catalog.upsert([
        doc("local", "x", "2026-11-05", 30.0, bytes_in=1000, bytes_out=100, ssim=0.8),
        doc("local", "y", "2026-11-05", 40.0, bytes_in=3000, bytes_out=300, ssim=0.9),
        doc("pexels", "z", "2026-11-05", 35.0, bytes_in=500, bytes_out=50, ssim=0.7),
        doc("local", "w", "2026-11-04", 100.0, bytes_in=10, bytes_out=1, ssim=1.0, lossless=True),
    ])  # fmt: skip
    rows = catalog.stats()
    assert [(r["date"], r["source"], r["images"]) for r in rows] == [
        ("2026-11-05", "local", 2), ("2026-11-05", "pexels", 1), ("2026-11-04", "local", 1),
    ]  # fmt: skip
    local = rows[0]
    assert (local["bytes_in"], local["bytes_out"]) == (4000, 400)
    assert local["psnr_mean"] == pytest.approx(35.0) and local["ssim_mean"] == pytest.approx(0.85)
    assert catalog.stats({"source": "pexels"}) == [rows[1]]
    assert catalog.stats({"date": {"$gte": "2026-11-06"}}) == []
    json.dumps(rows, allow_nan=False)  # strict JSON
