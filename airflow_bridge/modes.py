"""How an Airflow task gets its asset materialized: in this process, or by a Dagster deployment over GraphQL.

Chosen per deployment by IMGPIPE_AIRFLOW_MODE, read when the task runs (not when the DAG file is parsed).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping

from airflow_bridge.contracts import Executor
from airflow_bridge.in_process import InProcessExecutor
from airflow_bridge.remote import RemoteExecutor, RemoteSettings

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


def executor_for(mode: ExecutionMode, env: Mapping[str, str] | None = None) -> Executor:
    if mode is ExecutionMode.REMOTE:
        return RemoteExecutor(RemoteSettings.from_env(env))
    return InProcessExecutor()
