"""The Dagster job as plain JSON: what `plan` needs, exported once so DAG files never import Dagster or Spark.

`python -m airflow_bridge.export` (or `make snapshots`) rewrites `asset_graph.json`; a fast test fails when the
committed file and the live definitions disagree, so the Airflow export cannot drift from the graph.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

GRAPH_FILE = Path(__file__).with_name("asset_graph.json")
JOB_NAME = "image_pipeline"
GRAPH_FORMAT = 1


def export_graph(defs: Any, job_name: str = JOB_NAME) -> dict[str, Any]:
    """Assets (key, upstream, description, `airflow/*` metadata) and the date × source partitions of `job_name`."""
    from dagster import MultiPartitionsDefinition, StaticPartitionsDefinition, TimeWindowPartitionsDefinition

    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def(job_name)
    keys = sorted(job.asset_layer.executable_asset_keys, key=lambda key: key.path)
    partitions = job.partitions_def
    if not isinstance(partitions, MultiPartitionsDefinition):
        raise TypeError(f"job {job_name} must be partitioned by date × static source, not {partitions!r}")
    dims = {type(d.partitions_def): d for d in partitions.partitions_defs}
    date_dim = next((d for t, d in dims.items() if issubclass(t, TimeWindowPartitionsDefinition)), None)
    source_dim = dims.get(StaticPartitionsDefinition)
    if date_dim is None or source_dim is None:
        raise TypeError(f"job {job_name} needs one time-window and one static dimension")
    window = cast(TimeWindowPartitionsDefinition, date_dim.partitions_def)
    assets = []
    for key in keys:
        node = graph.get(key)
        meta = {k: getattr(v, "value", v) for k, v in (node.metadata or {}).items() if k.startswith("airflow/")}
        assets.append(
            {
                "key": list(key.path),
                "upstream": sorted((list(k.path) for k in node.parent_keys if k in keys), key=tuple),
                "description": node.description or "",
                "airflow": meta,
            }
        )
    return {
        "format": GRAPH_FORMAT,
        "job": job_name,
        "date_dimension": {
            "name": date_dim.name,
            "cron": window.cron_schedule,
            "timezone": str(window.timezone),
            "start": window.start.date().isoformat(),
            "end_offset": window.end_offset,
            "fmt": window.fmt,
        },
        "source_dimension": {"name": source_dim.name, "values": list(source_dim.partitions_def.get_partition_keys())},
        "assets": assets,
    }


def render_json(graph: dict[str, Any]) -> str:
    return json.dumps(graph, indent=2, sort_keys=True) + "\n"


def main() -> int:
    from image_assets.definitions import defs

    GRAPH_FILE.write_text(render_json(export_graph(defs)))
    print(f"wrote {GRAPH_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
