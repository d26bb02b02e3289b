"""The Dagster instance the project creates under DAGSTER_HOME, and the runs that died in it.

`dagster.yaml` turns on run monitoring, so the daemon of `make dev` fails UI-launched runs whose worker died. Runs
that `imgpipe` executes in its own process have no run worker for the daemon to watch: they carry the host, pid
and process start time of the `imgpipe` that ran them, and every `imgpipe` start (and `make dev`) marks those whose
process is gone as failed, with the reason, instead of leaving them "in progress" forever.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from image_assets.settings import Settings

CONFIG_MARK = "# written by imgpipe"
DAGSTER_YAML = f"""{CONFIG_MARK}: edit freely, then delete the first line so imgpipe leaves the file alone
telemetry:
  enabled: false
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  max_resume_run_attempts: 0
  poll_interval_seconds: 30
"""
HOST_TAG, PID_TAG, STARTED_TAG = "imgpipe/host", "imgpipe/pid", "imgpipe/process_started"


def ensure_dagster_home(settings: Settings | None = None) -> Path:
    """Point DAGSTER_HOME at a persistent folder (so runs launched here show in `make dev`'s UI) with the
    project's dagster.yaml: offline (no telemetry) and with run monitoring on."""
    home = (settings or Settings.from_env()).dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text().startswith(CONFIG_MARK) or _old_default(config):
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _old_default(config: Path) -> bool:
    """The one-line file earlier versions wrote: upgraded in place."""
    return config.read_text().strip() == "telemetry:\n  enabled: false".strip()


def process_tags() -> dict[str, str]:
    """Tags that let a later `imgpipe` tell whether the process running a run is still alive."""
    me = psutil.Process()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(me.pid), STARTED_TAG: f"{me.create_time():.3f}"}


def process_alive(tags: dict[str, str]) -> bool | None:
    """True/False for runs of this host; None when the run was not started by an imgpipe here."""
    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return None
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        return f"{process.create_time():.3f}" == tags.get(STARTED_TAG)  # a reused pid is another process
    except (psutil.NoSuchProcess, ValueError):
        return False


def fail_dead_runs(instance: Any) -> list[str]:
    """Mark in-progress runs whose imgpipe process is gone as failed; returns their run ids."""
    from dagster import DagsterRunStatus, RunsFilter

    active = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.NOT_STARTED]
    failed = []
    for run in instance.get_runs(filters=RunsFilter(statuses=active)):
        if process_alive(run.tags) is False:
            reason = (
                f"the imgpipe process (pid {run.tags[PID_TAG]} on {run.tags[HOST_TAG]}) that ran this run exited "
                "without finishing it (killed or crashed); rerun the same partitions to resume"
            )
            instance.report_run_failed(run, message=reason)
            failed.append(run.run_id)
    return failed


@contextmanager
def project_instance(settings: Settings | None = None) -> Iterator[Any]:
    """The persistent instance, with runs of dead imgpipe processes already marked failed."""
    from dagster import DagsterInstance

    ensure_dagster_home(settings)
    with DagsterInstance.get() as instance:
        fail_dead_runs(instance)
        yield instance
