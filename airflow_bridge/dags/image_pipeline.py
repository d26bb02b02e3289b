"""The Airflow DAG file: one DAG `image_pipeline__<source>` per source of the Dagster asset graph.

Put this file in (or point `[core] dags_folder` at) Airflow's dags folder. Parsing reads the committed graph export
(`airflow_bridge/asset_graph.json`) and imports neither Dagster nor Spark; in-process tasks import them when they
run, remote-mode tasks never do.
"""

from airflow_bridge.build import build_dags

globals().update(build_dags())
