"""Source × day partitions shared by every asset (keys read `2026-11-26|local`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Backoff,
    DailyPartitionsDefinition,
    Jitter,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    RetryPolicy,
    StaticPartitionsDefinition,
)

from image_assets.settings import Settings
from image_assets.sources import SOURCE_NAMES

START_DATE = "2024-01-01"

image_partitions = MultiPartitionsDefinition(
    {
        # end_offset=1 makes today's partition available, so the demo can ingest photos fetched today.
        "date": DailyPartitionsDefinition(start_date=START_DATE, end_offset=1, timezone="UTC"),
        "source": StaticPartitionsDefinition(list(SOURCE_NAMES)),
    }
)


# A backfill runs as bounded runs of at most this many partitions (a month of one source by default), so one
# failure loses at most one run's work and a rerun resumes; each run is one Spark job per asset. The UI's
# backfills follow the policy through the daemon, `imgpipe backfill` chunks the same way (image_assets.backfill).
MAX_PARTITIONS_PER_RUN = Settings.from_env().backfill_max_partitions
IMAGE_BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN)
# Steps that only read manifests and write to storage and the catalog are idempotent, so a service outage longer
# than the clients' own retries (GCS ~2 min, MongoDB server selection) costs a step retry, not the run: 3 more
# tries after 5, 10 and 20 s (± jitter), each logged in the run with the error that caused it.
SERVICE_RETRY_POLICY = RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


@dataclass(frozen=True)
class PartitionRef:
    source: str
    day: dt.date

    @property
    def key(self) -> str:
        return str(MultiPartitionKey({"date": self.day.isoformat(), "source": self.source}))

    @classmethod
    def parse(cls, key: str) -> PartitionRef:
        keys = image_partitions.get_partition_key_from_str(str(key)).keys_by_dimension
        return cls(source=keys["source"], day=dt.date.fromisoformat(keys["date"]))


def partition_refs(context: AssetExecutionContext) -> list[PartitionRef]:
    """The partitions this run covers: one for a normal run, up to MAX_PARTITIONS_PER_RUN for a backfill run."""
    return sorted((PartitionRef.parse(key) for key in context.partition_keys), key=lambda r: (r.day, r.source))


def describe_refs(refs: list[PartitionRef]) -> str:
    return refs[0].key if len(refs) == 1 else f"{len(refs)} partitions {refs[0].key} … {refs[-1].key}"
