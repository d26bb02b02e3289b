"""`make demo`: materialize the four assets for one partition on embedded defaults and say what happened."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from image_assets.settings import Settings
from image_assets.tracking.links import LOCAL_UI

# The demo prints its own summary; Dagster's per-step debug lines stay in the run's log in the UI.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class DemoReport:
    partition_key: str
    run_id: str
    compressed: dict[str, Any]
    documents: int
    storage_location: str
    catalog_location: str
    mlflow_run_id: str
    mlflow_run_url: str
    dagster_home: str

    def lines(self) -> list[str]:
        c, nan = self.compressed, float("nan")
        return [
            f"Materialized raw_images → compressed_images → stored_images → image_catalog for {self.partition_key}",
            f"  images        {int(c.get('images_ok', 0))} compressed, {int(c.get('images_failed', 0))} failed",
            f"  bytes         {int(c.get('bytes_in', 0)):,} in → {int(c.get('bytes_out', 0)):,} out "
            f"(ratio {c.get('compression_ratio', 0):.2f}×)",
            f"  mean PSNR     {c.get('psnr_mean', nan):.2f} dB   mean SSIM {c.get('ssim_mean', nan):.4f}",
            f"  objects       {self.storage_location}",
            f"  catalog       {self.catalog_location} ({self.documents} documents; `imgpipe catalog list`)",
            f"  MLflow run    {self.mlflow_run_url}"
            + ("  (`make mlflow` serves it)" if self.mlflow_run_url.startswith(LOCAL_UI) else ""),
            f"  Dagster run   {self.run_id} (instance {self.dagster_home})",
            "  Dagster UI    `make dev`, then open http://127.0.0.1:3000",
        ]


def run_demo(source: str = "local", day: dt.date | None = None) -> DemoReport:
    from dagster import materialize

    from image_assets.assets import IMAGE_ASSETS
    from image_assets.assets.partitions import PartitionRef
    from image_assets.instance import process_tags, project_instance
    from image_assets.resources import build_resources

    settings = Settings.from_env()
    ref = PartitionRef(source=source, day=day or dt.datetime.now(dt.UTC).date())
    with project_instance(settings) as instance:
        result = materialize(
            IMAGE_ASSETS,
            partition_key=ref.key,
            resources=build_resources(settings),
            instance=instance,
            tags={"imgpipe/launched_by": "demo", **process_tags()},
            run_config=QUIET_LOGS,
            raise_on_error=True,
        )

    def metadata(asset: str) -> dict[str, Any]:
        (event,) = result.asset_materializations_for_node(asset)
        return {key: value.value for key, value in event.metadata.items()}

    compressed, catalog = metadata("compressed_images"), metadata("image_catalog")
    return DemoReport(
        partition_key=ref.key,
        run_id=result.run_id,
        compressed=compressed,
        documents=int(catalog["documents"]),
        storage_location=f"{settings.storage_url.rstrip('/')}/images/{source}/{ref.day.isoformat()}/",
        catalog_location="MongoDB (MONGODB_URI)" if settings.mongodb_uri else str(settings.catalog_sqlite_path),
        mlflow_run_id=str(compressed["mlflow_run_id"]),
        mlflow_run_url=str(compressed["mlflow_run"]),
        dagster_home=str(settings.dagster_home),
    )
