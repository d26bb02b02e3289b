"""`.svdz` bytes -> pixels. The encoder calls `render` too, so what it measures is what decoding gives."""

from __future__ import annotations

import numpy as np

from image_assets.codec import container
from image_assets.codec.errors import CodecError
from image_assets.codec.planes import COLOR_MODELS, from_planes, plane_shapes
from image_assets.codec.quant import PlaneCode, PlaneLayout, reconstruct


def render(
    layouts: list[PlaneLayout], codes: list[PlaneCode], color: str, height: int, width: int, channels: int
) -> np.ndarray:
    planes = [reconstruct(code, lay) for lay, code in zip(layouts, codes, strict=True)]
    rgb = from_planes(planes, color, height, width, channels)
    np.rint(rgb, out=rgb)
    np.clip(rgb, 0, 255, out=rgb)
    out = rgb.astype(np.uint8, order="C")
    return out[:, :, 0] if channels == 1 else out


def decode(data: bytes) -> np.ndarray:
    """Decode an `.svdz` file to uint8 HxW or HxWxC; `CodecError` if it is not a valid one."""
    header, layouts, codes = container.read(data)
    color = header.get("color")
    if color not in COLOR_MODELS:
        raise CodecError(f"unsupported colour model {color!r} in .svdz header")
    height, width, channels = int(header["height"]), int(header["width"]), int(header["channels"])
    shapes = plane_shapes(color, height, width, channels)
    if [(lay.height, lay.width) for lay in layouts] != shapes:
        raise CodecError("corrupt .svdz header (plane sizes do not match the image)")
    return render(layouts, codes, color, height, width, channels)
