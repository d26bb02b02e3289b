"""imgpipe: photos from Pexels, Unsplash, Wallhaven or a folder, SVD-compressed on Spark, stored and cataloged.

`image_assets.defs` is the Dagster `Definitions`. It is loaded on first access, so that `image_assets.codec`,
`image_assets.sources` and the other plain packages stay importable without paying for Dagster; `__dir__` lists
it, which is how `dagster ... -m image_assets` finds it.
"""

from typing import Any

_LAZY = ("defs",)


def __getattr__(name: str) -> Any:
    if name == "defs":
        from image_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'image_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
