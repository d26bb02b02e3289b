"""`.svdz` bytes -> pixels. The encoder calls `render` too, so what it measures is what decoding gives."""

from __future__ import annotations

import numpy as np

from image_assets.codec import container
from image_assets.codec.errors import CodecError
from image_assets.codec.planes import from_planes, plane_shapes
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


def parse(
    data: bytes, *, max_pixels: int = container.DEFAULT_MAX_PIXELS
) -> tuple[container.Header, list[PlaneLayout], list[PlaneCode]]:
    """Everything `decode` checks, short of rendering pixels (what `inspect` runs)."""
    header, layouts, codes = container.read(data, max_pixels=max_pixels)
    shapes = plane_shapes(header.color, header.height, header.width, header.channels)
    if [(lay.height, lay.width) for lay in layouts] != shapes:
        raise CodecError("corrupt .svdz header (plane sizes do not match the image)")
    return header, layouts, codes


def decode(data: bytes, *, max_pixels: int = container.DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an `.svdz` file to uint8 HxW or HxWxC; `CodecError` for anything that is not a valid one, including
    images over `max_pixels` (Pillow's limit by default) and files asking for more work than their size allows."""
    header, layouts, codes = parse(data, max_pixels=max_pixels)
    return render(layouts, codes, header.color, header.height, header.width, header.channels)
