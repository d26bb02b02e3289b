"""What the renderer asks of an executor, shared by both execution modes (and importing neither)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


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
