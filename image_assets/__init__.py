"""imgpipe: photos from Pexels, Unsplash, Wallhaven or a folder, SVD-compressed on Spark, stored and cataloged.

`image_assets.defs` is the Dagster `Definitions`; it is loaded lazily so that `image_assets.codec` and
`image_assets.sources` stay importable without paying for Dagster.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "defs":
        from image_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'image_assets' has no attribute {name!r}")
