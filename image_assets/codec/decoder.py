"""`.svdz` bytes -> pixels. The encoder renders its trials with the same band functions (`band_plane`,
`render_band`, `render_channel`), so what it measures is what decoding gives."""

from __future__ import annotations

import numpy as np

from image_assets.codec import container
from image_assets.codec.errors import CodecError
from image_assets.codec.planes import YCC_INVERSE, from_planes, plane_shapes, uses_color_transform
from image_assets.codec.quant import PlaneCode, PlaneLayout, reconstruct_tiles
from image_assets.codec.stages import stage
from image_assets.codec.tiles import DECODE_BAND_SCALE, Band, bands, from_tiles


def plane_geometry(layouts: list[PlaneLayout], color: str, channels: int) -> list[tuple[int, int, int, int, int]]:
    """(height, width, tile_h, tile_w, vertical subsampling) per plane, as `tiles.bands` takes them."""
    half = uses_color_transform(color, channels) and color == "ycbcr420"
    return [
        (lay.height, lay.width, lay.tile_h, lay.tile_w, 2 if half and index in (1, 2) else 1)
        for index, lay in enumerate(layouts)
    ]


def decode_bands(layouts: list[PlaneLayout], color: str, channels: int, height: int, width: int) -> list[Band]:
    """The bands a decode walks (`tiles.DECODE_BAND_SCALE` times an encode's)."""
    return bands(plane_geometry(layouts, color, channels), height, width, DECODE_BAND_SCALE)


def band_plane(code: PlaneCode, layout: PlaneLayout, rmax: int, rows: tuple[int, int]) -> np.ndarray:
    """Plane rows rows[0]..rows[1] from the code of the tiles covering them (`rmax`: the plane's largest rank)."""
    height = rows[1] - rows[0]
    if rmax == 0:
        return np.zeros((height, layout.width), dtype=np.float32)
    if code.dct:
        from image_assets.codec import (
            kernels,
        )  # compiled (numba): imported on first use, so processes that only load definitions skip ~1 s

        plane = np.empty((height, layout.width), np.float32)
        basis_h, basis_w = dct_basis(layout.tile_h), dct_basis(layout.tile_w)
        per_row = -(-layout.width // layout.tile_w)
        kernels.tiles_to_plane(code.ranks, code.qu, code.qv, code.step, basis_h, basis_w, per_row, plane)
        return plane
    return from_tiles(reconstruct_tiles(code, rmax, layout.tile_h, layout.tile_w), height, layout.width)


def dct_basis(n: int) -> np.ndarray:
    """The DCT-II matrix of length n (`kernels.dct_basis`: cached, read-only)."""
    from image_assets.codec import kernels

    return kernels.dct_basis(n)


_INVERSE32 = YCC_INVERSE.astype(np.float32)


def render_band(planes: list[np.ndarray], color: str, band: Band, out: np.ndarray) -> None:
    """Colour-convert, round and clip one band's planes into rows band.start..band.stop of `out` (uint8 HxWxC)."""
    if color == "ycbcr420" and out.shape[2] == 3:
        from image_assets.codec import kernels

        luma, cb, cr = planes
        kernels.ycc420_to_rgb(luma, cb, cr, _INVERSE32, out[band.start : band.stop])
        return
    rgb = from_planes(planes, color, band.stop - band.start, out.shape[1], out.shape[2])
    np.rint(rgb, out=rgb)
    np.clip(rgb, 0, 255, out=rgb)
    out[band.start : band.stop] = rgb


def render_channel(plane: np.ndarray, band: Band, out: np.ndarray, channel: int) -> None:
    """`render_band` for one channel of an image without a colour transform, in place in `plane` (the same
    operations per pixel as `from_planes`), so channels need not be held together (a whole-plane layout's
    band is the whole image)."""
    np.add(plane, np.float32(128.0), out=plane)
    np.rint(plane, out=plane)
    np.clip(plane, 0, 255, out=plane)
    out[band.start : band.stop, :, channel] = plane


def render(
    layouts: list[PlaneLayout],
    codes: list[container.PlaneSource],
    color: str,
    height: int,
    width: int,
    channels: int,
) -> np.ndarray:
    """Decoded pixels, a band of rows at a time: float32 temporaries scale with a band, not the image, and every
    pixel gets the same arithmetic as rendering the whole image at once."""
    rmax = [int(code.ranks.max(initial=0)) for code in codes]
    out = np.empty((height, width, channels), np.uint8)
    per_channel = not uses_color_transform(color, channels)
    for band in decode_bands(layouts, color, channels, height, width):
        planes = []
        for index, (lay, code) in enumerate(zip(layouts, codes, strict=True)):
            with stage("decode: entropy"):
                tiles = code.band(*band.tiles[index])
            with stage("decode: tiles"):
                plane = band_plane(tiles, lay, rmax[index], band.rows[index])
            if per_channel:
                render_channel(plane, band, out, index)
            else:
                planes.append(plane)
        if not per_channel:
            with stage("decode: colour"):
                render_band(planes, color, band, out)
    return out[:, :, 0] if channels == 1 else out


def parse(
    data: bytes, *, max_pixels: int = container.DEFAULT_MAX_PIXELS
) -> tuple[container.Header, list[PlaneLayout], list[container.PlaneSource]]:
    """The validated header, plane geometry and codes (v3 vectors still to decode, band by band)."""
    header, layouts, codes = container.read(data, max_pixels=max_pixels)
    shapes = plane_shapes(header.color, header.height, header.width, header.channels)
    if [(lay.height, lay.width) for lay in layouts] != shapes:
        raise CodecError("corrupt .svdz header (plane sizes do not match the image)")
    return header, layouts, codes


def check(data: bytes, *, max_pixels: int = container.DEFAULT_MAX_PIXELS) -> container.Header:
    """Everything `decode` checks, short of rendering pixels (what `inspect` runs)."""
    header, layouts, codes = parse(data, max_pixels=max_pixels)
    for band in decode_bands(layouts, header.color, header.channels, header.height, header.width):
        for index, code in enumerate(codes):
            code.band(*band.tiles[index])
    return header


def decode(data: bytes, *, max_pixels: int = container.DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an `.svdz` file to uint8 HxW or HxWxC; `CodecError` for anything that is not a valid one, including
    images over `max_pixels` (Pillow's limit by default) and files asking for more work than their size allows."""
    header, layouts, codes = parse(data, max_pixels=max_pixels)
    out = render(layouts, codes, header.color, header.height, header.width, header.channels)
    with stage("decode: deblock"):
        deblock_tiles(out, layouts, header.color, header.deblock)
    return out


def deblock_tiles(
    pixels: np.ndarray,
    layouts: list[PlaneLayout],
    color: str,
    strength: float,
    rows: tuple[int, int] | None = None,
) -> None:
    """The v3 deblocking filter over the first plane's tile grid (nothing for whole-plane layouts); `rows`: one of
    `deblock.strips`' row ranges."""
    first = layouts[0]
    if strength > 0 and (first.tile_h < first.height or first.tile_w < first.width):
        from image_assets.codec import (
            deblock,
        )  # compiled (numba): imported on first use, so processes that only load definitions skip ~1 s

        coarse = 2 if color == "ycbcr420" and len(layouts) >= 3 else 1
        deblock.apply(pixels, (first.tile_h, first.tile_w), strength, coarse, rows)
