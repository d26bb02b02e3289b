"""Object keys: plain source ids are kept, anything else is encoded into one safe, distinct key segment."""

from __future__ import annotations

import pytest

from image_assets.pipeline import layout
from image_assets.stores import InvalidKey, check_key
from tests.pipeline.conftest import DAY, SOURCE

PLAIN = ["abc", "A1-b_2", "7", "Z" * 100, "photo-2026_11"]
UNSAFE = [
    "../../x",
    "a b",
    "ü",
    "",
    ".hidden",
    "_leading-underscore",
    "-leading-dash",
    "a/b",
    "a\\b",
    "a\nb",
    "x" * 101,
    "a.b",
    "%2e%2e",
    "日本語",
    "\ud800",  # a lone surrogate, as a badly decoded file name can carry
]


def test_plain_ids_are_kept() -> None:
    for source_id in PLAIN:
        assert layout.key_segment(source_id) == source_id


def test_unsafe_ids_are_encoded_into_one_safe_segment() -> None:
    for source_id in UNSAFE:
        segment = layout.key_segment(source_id)
        assert segment.startswith("_"), source_id
        assert "/" not in segment and ".." not in segment, source_id
        assert segment == layout.key_segment(source_id), source_id  # deterministic
        assert len(segment) <= 62, source_id
        assert check_key(segment) == segment


def test_encoded_segment_keeps_a_readable_part() -> None:
    assert layout.key_segment("../../x").startswith("_x-")
    assert layout.key_segment("a b").startswith("_a_b-")
    # Nothing readable left: an underscore and the 20-digit digest alone.
    assert len(layout.key_segment("ü")) == 21


def test_distinct_ids_stay_distinct() -> None:
    # Ids whose readable parts coincide ("a b", "a/b", "a  b" all read "a_b") and a plain id equal to one of them.
    ids = [*PLAIN, *UNSAFE, "a  b", "a_b", "a__b", "_a_b", "a b ", "x" * 102, "ü ", "Ü"]
    segments = [layout.key_segment(source_id) for source_id in ids]
    assert len(set(segments)) == len(ids)


def test_every_key_passes_check_key() -> None:
    for source_id in PLAIN + UNSAFE:
        keys = [
            layout.raw_key(SOURCE, DAY, source_id, ".png"),
            layout.svdz_key(layout.STAGING, SOURCE, DAY.isoformat(), source_id),
            layout.image_key(SOURCE, DAY, source_id),
        ]
        for key in keys:
            assert check_key(key) == key
            assert key.count("/") == 3, key  # area/source/day/segment: the id never adds a folder
        assert keys[0].startswith(f"raw/{SOURCE}/2026-11-26/")
        assert keys[1].startswith(f"staging/{SOURCE}/2026-11-26/") and keys[1].endswith(".svdz")
        assert keys[2].startswith(f"images/{SOURCE}/2026-11-26/") and keys[2].endswith(".svdz")


def test_prefixes_and_manifest_key() -> None:
    assert layout.partition_prefix(layout.IMAGES, SOURCE, DAY) == "images/fake/2026-11-26/"
    # A date given as an ISO string (as compressed rows carry it) gives the same prefix.
    assert layout.partition_prefix(layout.IMAGES, SOURCE, "2026-11-26") == "images/fake/2026-11-26/"
    assert check_key(layout.partition_prefix(layout.STAGING, SOURCE, DAY), prefix=True)
    key = layout.manifest_key("raw_images", SOURCE, DAY)
    assert key == "manifests/raw_images/fake/2026-11-26.parquet"
    assert check_key(key) == key


def test_unencoded_unsafe_id_would_be_rejected() -> None:
    """Why key_segment exists: a raw id such as "../../x" in a key is refused by the store's key check."""
    with pytest.raises(InvalidKey):
        check_key(f"raw/{SOURCE}/2026-11-26/../../x.png")
