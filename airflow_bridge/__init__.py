"""The Dagster asset graph exported as Airflow 3 DAGs (see docs/airflow.md).

`plan` derives a plain description from `image_assets.defs`; `render` turns it into DAGs; `compat` holds every
Airflow import, so only the DAG file and the renderer need Airflow installed.
"""
