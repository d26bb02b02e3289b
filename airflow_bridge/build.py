"""The one call a DAG file makes: the committed graph export, planned and rendered as DAGs keyed by dag id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_bridge.plan import GRAPH_FILE, load_graph, plan_dags


def build_dags(graph_file: str | Path = GRAPH_FILE) -> dict[str, Any]:
    from airflow_bridge.render import render_dags

    return render_dags(plan_dags(load_graph(graph_file)))
