"""`imgpipe backfill`: materialize a date range for one source (or all) as bounded runs in the Dagster instance.

A range is cut into chunks of at most `max_partitions` partitions (IMGPIPE_BACKFILL_MAX_PARTITIONS, default a
month of one source), each one run of the `image_pipeline` job, so one failure loses at most one chunk. Chunks
whose partitions are all materialized already are skipped, so rerunning the same command resumes a backfill. Each
run carries the partition-range tags a UI backfill uses and shows in the UI beside them; progress (steps, and
images encoded with their rate and ETA) comes from the run's own event log.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from image_assets.assets.partitions import MAX_PARTITIONS_PER_RUN, START_DATE, PartitionRef, image_partitions
from image_assets.sources import SOURCE_NAMES

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
BACKFILL_TAG = "imgpipe/backfill"
CHUNK_TAG = "imgpipe/backfill_chunk"
ASSET_ORDER = ("raw_images", "compressed_images", "stored_images", "image_catalog")
PROGRESS_PREFIX = "encoded "  # the compressed_images step's per-image progress lines (pipeline.progress)


class BackfillError(ValueError):
    """A request that names no valid partitions; the message is user-facing."""


@dataclass(frozen=True)
class BackfillPlan:
    sources: tuple[str, ...]
    start: dt.date
    end: dt.date
    max_partitions: int = MAX_PARTITIONS_PER_RUN
    backfill_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def partitions(self) -> list[PartitionRef]:
        return [ref for chunk in self.chunks() for ref in chunk]

    def chunks(self) -> list[list[PartitionRef]]:
        """Runs of consecutive days of one source, at most `max_partitions` each (a month of one source by
        default: a source's quota and failures stay within its own runs)."""
        days, size = self.days, self.max_partitions
        return [
            [PartitionRef(source, day) for day in days[i : i + size]]
            for source in self.sources
            for i in range(0, len(days), size)
        ]


def chunk_tags(plan: BackfillPlan, chunk: list[PartitionRef], number: int) -> dict[str, str]:
    return {
        RANGE_START_TAG: chunk[0].key,
        RANGE_END_TAG: chunk[-1].key,
        BACKFILL_TAG: plan.backfill_id,
        CHUNK_TAG: f"{number}/{len(plan.chunks())}",
    }


def plan_backfill(source: str, start: dt.date, end: dt.date, *, max_partitions: int | None = None) -> BackfillPlan:
    """Validate a request against the partitions definition; `source` may be `all`."""
    sources = SOURCE_NAMES if source == "all" else (source,)
    if source != "all" and source not in SOURCE_NAMES:
        raise BackfillError(f"unknown source {source!r}; choose one of {', '.join(SOURCE_NAMES)} or all")
    if start > end:
        raise BackfillError(f"--from {start} is after --to {end}")
    if max_partitions is not None and max_partitions < 1:
        raise BackfillError(f"--max-partitions must be at least 1, got {max_partitions}")
    valid = set(image_partitions.get_partition_keys())
    for day in (start, end):
        if PartitionRef(sources[0], day).key not in valid:
            raise BackfillError(f"{day} is outside the partitions (from {START_DATE} to today, UTC)")
    return BackfillPlan(sources, start, end, max_partitions or MAX_PARTITIONS_PER_RUN)


@dataclass
class ChunkOutcome:
    partitions: list[PartitionRef]
    run_id: str | None = None  # None: skipped, every partition was already materialized
    success: bool = True
    error: str | None = None

    @property
    def skipped(self) -> bool:
        return self.run_id is None


@dataclass
class BackfillOutcome:
    chunks: list[ChunkOutcome]

    @property
    def success(self) -> bool:
        return all(chunk.success for chunk in self.chunks)

    @property
    def failed(self) -> list[ChunkOutcome]:
        return [chunk for chunk in self.chunks if not chunk.success]


# (kind, text): kind is "chunk" (a run starts or is skipped), "step" (an asset finished) or "progress".
EventCallback = Callable[[str, str], None]


def run_backfill(plan: BackfillPlan, *, on_event: EventCallback | None = None, force: bool = False) -> BackfillOutcome:
    """Execute every chunk that is not materialized yet (all of them with `force`), one run each, in order.

    A failed chunk is reported and the next one runs anyway."""
    from dagster import AssetKey

    from image_assets.definitions import defs
    from image_assets.instance import process_tags, project_instance

    emit = on_event or (lambda kind, text: None)
    job = defs.resolve_job_def("image_pipeline")
    outcomes = []
    with project_instance() as instance:
        done = set(instance.get_materialized_partitions(AssetKey(ASSET_ORDER[-1])))
        chunks = plan.chunks()
        for number, chunk in enumerate(chunks, start=1):
            label = f"run {number}/{len(chunks)}: {len(chunk)} partition(s) {chunk[0].key} … {chunk[-1].key}"
            if not force and all(ref.key in done for ref in chunk):
                emit("chunk", f"{label}: already materialized, skipped")
                outcomes.append(ChunkOutcome(chunk))
                continue
            emit("chunk", label)
            tags = chunk_tags(plan, chunk, number) | process_tags()
            outcomes.append(_run_chunk(instance, job, chunk, tags, emit))
    return BackfillOutcome(outcomes)


def _run_chunk(instance: Any, job: Any, chunk: list[PartitionRef], tags: dict[str, str], emit: EventCallback):
    from dagster import DagsterEventType

    from image_assets.demo import QUIET_LOGS

    run_id = str(uuid.uuid4())
    outcome = ChunkOutcome(chunk, run_id, success=False)

    def execute() -> None:
        try:
            result = job.execute_in_process(
                instance=instance, run_id=run_id, tags=tags, raise_on_error=False, run_config=QUIET_LOGS
            )
            outcome.success = result.success
            failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
            error = failures[0].step_failure_data.error if failures else None
            if error is not None:
                outcome.error = error.message.strip().splitlines()[-1]
            elif not result.success:
                outcome.error = "the run failed (see its log in the Dagster UI)"
        except Exception as exc:  # reported as the outcome, not a traceback
            outcome.success, outcome.error = False, f"{type(exc).__name__}: {exc}"

    worker = threading.Thread(target=execute, name="imgpipe-backfill")
    worker.start()
    cursor = None
    while True:
        alive = worker.is_alive()
        events, cursor = _run_events(instance, run_id, cursor)
        for kind, text in events:
            emit(kind, text)
        if not alive:
            break
        time.sleep(0.5)
    worker.join()
    return outcome


def _run_events(instance: Any, run_id: str, cursor: str | None) -> tuple[list[tuple[str, str]], str | None]:
    """Step successes and per-image progress lines of a run after `cursor`, and the cursor after them."""
    from dagster import DagsterEventType

    events = []
    while True:
        connection = instance.get_records_for_run(run_id, cursor=cursor, limit=500)
        for record in connection.records:
            entry = record.event_log_entry
            if entry.dagster_event is not None:
                if entry.dagster_event.event_type == DagsterEventType.STEP_SUCCESS and entry.step_key:
                    events.append(("step", entry.step_key))
            elif entry.user_message.startswith(PROGRESS_PREFIX):
                events.append(("progress", entry.user_message))
        cursor = connection.cursor
        if not connection.has_more:
            return events, cursor
