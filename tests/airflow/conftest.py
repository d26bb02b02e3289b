"""Airflow settings for these tests, set before Airflow is first imported (it reads its config once, at import).

AIRFLOW_HOME itself already points into the session's scratch folder (tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from image_assets.sources.local import BUNDLED_PHOTOS

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "airflow_bridge" / "dags"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# A failed task would otherwise wait out its retry delay inside dag.test().
os.environ["IMGPIPE_AIRFLOW_RETRIES"] = "0"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def place_photo(folder: Path, name: str, day: dt.date) -> None:
    """A local file's partition day is its mtime's UTC day: noon of `day`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(BUNDLED_PHOTOS / name, folder / name)
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC).timestamp()
    os.utime(folder / name, (noon, noon))


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated SQLite metadata DB in the scratch AIRFLOW_HOME (dag.test() needs one)."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))
