"""The code location loads, with the lineage and partitions the product promises."""

from __future__ import annotations

import itertools

from dagster import AssetKey, MultiPartitionsDefinition


def test_defs_lineage_and_partitions() -> None:
    import image_assets

    defs = image_assets.defs
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {"raw_images", "compressed_images", "stored_images", "image_catalog"}

    chain = ["raw_images", "compressed_images", "stored_images", "image_catalog"]
    for upstream, downstream in itertools.pairwise(chain):
        parents = {key.to_user_string() for key in graph.get(AssetKey(downstream)).parent_keys}
        assert parents == {upstream}
    assert not graph.get(AssetKey("raw_images")).parent_keys

    for name in chain:
        partitions = graph.get(AssetKey(name)).partitions_def
        assert isinstance(partitions, MultiPartitionsDefinition)
        dims = {d.name: d.partitions_def for d in partitions.partitions_defs}
        assert set(dims) == {"date", "source"}
        assert dims["source"].get_partition_keys() == ["local", "pexels", "unsplash", "wallhaven"]
        assert "2026-11-26|local" in partitions.get_partition_keys()


def test_workspace_and_pyproject_point_at_the_code_location() -> None:
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["dagster"]
    assert tool["module_name"] == "image_assets.definitions"
    assert "module_name: image_assets" in (root / "workspace.yaml").read_text()
