"""The Dagster code location: assets, jobs and the resources chosen for this environment."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from image_assets.assets import IMAGE_ASSETS
from image_assets.assets.experiments import compression_experiment_job
from image_assets.assets.partitions import image_partitions
from image_assets.resources import build_resources
from image_assets.schedules import daily_schedules

image_pipeline_job = define_asset_job(
    "image_pipeline",
    selection=AssetSelection.assets(*IMAGE_ASSETS),
    partitions_def=image_partitions,
    description="raw_images → compressed_images → stored_images → image_catalog for one source and day.",
)

defs = Definitions(
    assets=IMAGE_ASSETS,
    jobs=[image_pipeline_job, compression_experiment_job],
    schedules=daily_schedules(image_pipeline_job),
    resources=build_resources(),
    # One process per run, as `imgpipe backfill` and Airflow's in-process mode already run: the four steps are a
    # chain whose heavy work runs on Spark, so a subprocess per step bought no parallelism and cost four more
    # interpreter starts and code-location imports per run (~15-25 s each on a busy 2-core machine).
    executor=in_process_executor,
)
