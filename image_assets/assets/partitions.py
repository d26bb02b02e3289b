"""Source × day partitions shared by every asset (keys read `2026-11-26|local`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dagster import (
    AssetExecutionContext,
    DailyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
)

from image_assets.sources import SOURCE_NAMES

START_DATE = "2024-01-01"

image_partitions = MultiPartitionsDefinition({
    # end_offset=1 makes today's partition available, so the demo can ingest photos fetched today.
    "date": DailyPartitionsDefinition(start_date=START_DATE, end_offset=1, timezone="UTC"),
    "source": StaticPartitionsDefinition(list(SOURCE_NAMES)),
})


@dataclass(frozen=True)
class PartitionRef:
    source: str
    day: dt.date

    @property
    def key(self) -> str:
        return str(MultiPartitionKey({"date": self.day.isoformat(), "source": self.source}))


def partition_ref(context: AssetExecutionContext) -> PartitionRef:
    keys = context.partition_key.keys_by_dimension
    return PartitionRef(source=keys["source"], day=dt.date.fromisoformat(keys["date"]))
