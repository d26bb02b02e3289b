"""partition_consistency: stored objects against catalog documents, on a real store and the embedded catalog."""

from __future__ import annotations

from image_assets.catalog import document_id
from image_assets.pipeline import layout
from image_assets.pipeline.checks import partition_consistency
from tests.pipeline.conftest import DAY, PARTITION, SOURCE


def document(source_id: str, *, partition: str = PARTITION, sha: str | None = None, key: str | None = None) -> dict:
    return {
        "_id": document_id(SOURCE, source_id),
        "source": SOURCE,
        "source_id": source_id,
        "partition_key": partition,
        "date": DAY.isoformat(),
        "storage": {"key": key or layout.image_key(SOURCE, DAY, source_id)},
        "original_sha256": sha or f"sha-{source_id}",
    }


def publish(store, *source_ids: str) -> None:
    for source_id in source_ids:
        store.put(layout.image_key(SOURCE, DAY, source_id), source_id.encode())


def check(store, catalog):
    return partition_consistency(store, catalog, SOURCE, DAY, PARTITION)


def test_matched(store, catalog) -> None:
    publish(store, "a", "b")
    catalog.upsert([document("a"), document("b")])
    state = check(store, catalog)
    assert state.matched
    assert (state.objects, state.documents) == (2, 2)
    assert state.objects_without_document == [] and state.documents_without_object == []
    assert state.same_content == []


def test_empty_partition_is_matched(store, catalog) -> None:
    state = check(store, catalog)
    assert state.matched and (state.objects, state.documents) == (0, 0)


def test_object_without_document(store, catalog) -> None:
    publish(store, "a", "orphan")
    catalog.upsert([document("a")])
    state = check(store, catalog)
    assert not state.matched
    assert state.objects_without_document == ["images/fake/2026-11-26/orphan.svdz"]
    assert state.documents_without_object == []
    assert (state.objects, state.documents) == (2, 1)


def test_document_without_object(store, catalog) -> None:
    publish(store, "a")
    catalog.upsert([document("a"), document("lost")])
    state = check(store, catalog)
    assert not state.matched
    assert state.documents_without_object == ["fake:lost"]
    assert state.objects_without_document == []


def test_other_partitions_are_not_counted(store, catalog) -> None:
    publish(store, "a")
    store.put("images/fake/2026-11-25/z.svdz", b"z")
    catalog.upsert(
        [
            document("a"),
            document("z", partition="2026-11-25|fake", key="images/fake/2026-11-25/z.svdz"),
        ]
    )
    state = check(store, catalog)
    assert state.matched
    assert (state.objects, state.documents) == (1, 1)


def test_same_content_groups(store, catalog) -> None:
    publish(store, "a", "b", "c", "d", "e")
    catalog.upsert(
        [
            document("c", sha="same-1"),
            document("a", sha="same-1"),
            document("b", sha="unique"),
            document("e", sha="same-2"),
            document("d", sha="same-2"),
            # Same original in another partition: not a duplicate within this one.
            document("x", partition="2026-11-25|fake", sha="unique", key="images/fake/2026-11-25/x.svdz"),
        ]
    )
    state = check(store, catalog)
    assert state.matched  # duplicates are a separate finding, not a mismatch
    assert state.same_content == [["fake:a", "fake:c"], ["fake:d", "fake:e"]]
