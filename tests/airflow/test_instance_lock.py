"""Concurrent Airflow tasks opening a fresh Dagster instance must not corrupt its SQLite schemas."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

OPEN = """
import sys, time
from pathlib import Path
import dagster  # noqa: F401  (imported before the start line, so the opens really race)
from airflow_bridge.in_process import open_instance
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
with open_instance(Path(sys.argv[1])) as instance:
    instance.get_runs(limit=1)
"""


def test_concurrent_first_opens_leave_one_schema_version(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    start = time.time() + 20  # after every child has imported Dagster
    children = [subprocess.Popen([sys.executable, "-c", OPEN, str(home), str(start)]) for _ in range(4)]
    assert [child.wait(timeout=120) for child in children] == [0, 0, 0, 0]
    for db in ("schedules/schedules.db", "history/runs.db"):
        with sqlite3.connect(home / db) as conn:
            assert len(conn.execute("select * from alembic_version").fetchall()) == 1, db
