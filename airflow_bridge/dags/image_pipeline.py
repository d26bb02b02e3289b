"""The Airflow DAG file: one DAG `image_pipeline__<source>` per source of the Dagster asset graph.

Put this file in (or point `[core] dags_folder` at) Airflow's dags folder. Parsing imports the Dagster definitions
(a few seconds) but starts no Spark and opens no Dagster instance; that happens when a task runs.
"""

from airflow_bridge.build import build_dags

globals().update(build_dags())
