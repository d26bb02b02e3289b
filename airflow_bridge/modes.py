"""How an Airflow task gets its asset materialized: in this process, or by a Dagster deployment over GraphQL.

Chosen per deployment by IMGPIPE_AIRFLOW_MODE, read when the task runs (not when the DAG file is parsed).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

MODE_ENV = "IMGPIPE_AIRFLOW_MODE"


class ExecutionMode(enum.StrEnum):
    IN_PROCESS = "in_process"
    REMOTE = "remote"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ExecutionMode:
        env = os.environ if env is None else env
        text = (env.get(MODE_ENV) or cls.IN_PROCESS.value).strip().lower().replace("-", "_")
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(mode.value for mode in cls)
            raise ValueError(f"{MODE_ENV}={text!r} is not one of: {choices}") from None


@dataclass(frozen=True)
class AssetRun:
    """One Dagster run: materialize `asset_key` of `job_name` for `partition_key`, with these run tags."""

    job_name: str
    asset_key: tuple[str, ...]
    partition_key: str
    tags: Mapping[str, str] = field(default_factory=dict)


class DagsterRunFailed(RuntimeError):
    """The Dagster run did not succeed; the message carries Dagster's own error so it lands in the task log."""

    def __init__(self, run_id: str | None, status: str, errors: list[str]) -> None:
        self.run_id, self.status, self.errors = run_id, status, errors
        detail = "\n".join(errors) or "(Dagster reported no error message)"
        super().__init__(f"Dagster run {run_id or '(not launched)'} ended {status}:\n{detail}")


class Executor(Protocol):
    def run(self, request: AssetRun) -> str:
        """Materialize and return the Dagster run id; raise DagsterRunFailed if the run fails."""
        ...


def executor_for(mode: ExecutionMode, env: Mapping[str, str] | None = None) -> Executor:
    if mode is ExecutionMode.REMOTE:
        from airflow_bridge.remote import RemoteExecutor, RemoteSettings

        return RemoteExecutor(RemoteSettings.from_env(env))
    from airflow_bridge.in_process import InProcessExecutor

    return InProcessExecutor()
