"""Every Airflow import of the bridge, in one place: an Airflow upgrade touches this file only.

Targets Airflow 3's stable authoring interface, `airflow.sdk`.
"""

from __future__ import annotations

from airflow.sdk import DAG, Asset, BaseOperator, Context, CronDataIntervalTimetable
from airflow.sdk.exceptions import AirflowFailException

__all__ = ["DAG", "AirflowFailException", "Asset", "BaseOperator", "Context", "CronDataIntervalTimetable"]
