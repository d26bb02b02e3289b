"""Pins the asset graph (keys, dependencies, partitions, checks, schedules) so a change to it is deliberate.

The test only compares: it never rewrites the snapshot, whatever the environment says. After an intended change,
regenerate with `make snapshots` (`python -m tests.snapshots`) and commit the diff for review.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from dagster import build_schedule_context

SNAPSHOT = Path(__file__).with_name("snapshots") / "asset_graph.json"


def describe_graph() -> dict[str, Any]:
    import image_assets

    defs = image_assets.defs
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        dims = {d.name: type(d.partitions_def).__name__ for d in node.partitions_def.partitions_defs}
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": dims,
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "checks": sorted(c.name for c in node.check_keys),
            "backfill_policy": str(node.backfill_policy.policy_type.value) if node.backfill_policy else None,
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in defs.schedules or []),
    }


def render(graph: dict[str, Any]) -> str:
    return json.dumps(graph, indent=2, sort_keys=True) + "\n"


def test_asset_graph_matches_snapshot() -> None:
    before = SNAPSHOT.read_bytes()
    assert describe_graph() == json.loads(before), "the asset graph changed: review it, then run `make snapshots`"
    assert SNAPSHOT.read_bytes() == before


def test_airflow_graph_export_matches_the_definitions() -> None:
    """The committed export DAG files are planned from must be the live graph (no drift, no self-rewrite)."""
    import image_assets
    from airflow_bridge.export import GRAPH_FILE, export_graph

    assert json.loads(GRAPH_FILE.read_text()) == export_graph(image_assets.defs), "run `make snapshots`"


def test_daily_schedule_targets_the_previous_day() -> None:
    import image_assets

    schedule = next(s for s in image_assets.defs.schedules if s.name == "image_pipeline__wallhaven_daily")
    assert schedule.default_status.value == "STOPPED"
    tick = dt.datetime(2026, 11, 27, 0, 30, tzinfo=dt.UTC)
    repository = image_assets.defs.get_repository_def()
    context = build_schedule_context(scheduled_execution_time=tick, repository_def=repository)
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-26|wallhaven"
