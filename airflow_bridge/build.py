"""The one call a DAG file makes: plans from `image_assets.defs`, rendered as Airflow DAGs keyed by dag id."""

from __future__ import annotations

from typing import Any


def build_dags() -> dict[str, Any]:
    from airflow_bridge.plan import plan_dags
    from airflow_bridge.render import render_dags
    from image_assets.definitions import defs

    return render_dags(plan_dags(defs))
