"""Thin Dagster assets; the work itself lives in image_assets.pipeline."""

from image_assets.assets.catalog import image_catalog
from image_assets.assets.compress import compressed_images
from image_assets.assets.ingest import raw_images
from image_assets.assets.store import stored_images

IMAGE_ASSETS = [raw_images, compressed_images, stored_images, image_catalog]

__all__ = ["IMAGE_ASSETS", "compressed_images", "image_catalog", "raw_images", "stored_images"]
