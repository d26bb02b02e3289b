"""The public entry points: file bytes or pixels in, `.svdz` bytes and quality figures out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from image_assets.codec import container, heap, metrics
from image_assets.codec.decoder import check, decode
from image_assets.codec.encoder import encode_array
from image_assets.codec.errors import CodecError
from image_assets.codec.loading import load_image
from image_assets.codec.policy import RankPolicy
from image_assets.codec.threads import blas_threads, codec_threads

SVDZ_SUFFIX = ".svdz"


@dataclass(frozen=True)
class EncodeResult:
    """An encoded image with the quality it achieved (measured on the decoded pixels)."""

    data: bytes
    width: int
    height: int
    channels: int
    psnr: float
    ssim: float
    bits_per_pixel: float
    ranks: tuple[int, ...]  # triplets kept per plane (summed over tiles)
    encode_seconds: float
    policy: RankPolicy
    layout: str = ""

    @property
    def compressed_bytes(self) -> int:
        return len(self.data)


def check_pixels(pixels: np.ndarray) -> np.ndarray:
    """Validate an array as uint8 HxW or HxWxC (C in 1..4); squeeze a single channel to HxW."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise CodecError(f"pixels must be uint8, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise CodecError(f"pixels must be HxW or HxWxC with C in 1..4, got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise CodecError(f"image has no pixels (shape {arr.shape})")
    return np.ascontiguousarray(arr)


def encode_pixels(pixels: np.ndarray, policy: RankPolicy, *, threads: int | None = 1) -> EncodeResult:
    """Encode pixels; PSNR, SSIM (`metrics.fast_ssim`) and bits per pixel are measured on the decoded result.

    `threads` is how many threads the encode may use, for its compiled kernels and BLAS (1 by default:
    parallelism comes from running many images at once); None leaves the BLAS setting alone and uses one.
    """
    arr = check_pixels(pixels)
    with blas_threads(threads), codec_threads(threads):
        start = time.perf_counter()
        out = encode_array(arr, policy)
        seconds = time.perf_counter() - start
        ssim = metrics.fast_ssim(arr, out.pixels)
    height, width = arr.shape[:2]
    return EncodeResult(
        data=out.data,
        width=width,
        height=height,
        channels=1 if arr.ndim == 2 else arr.shape[2],
        psnr=out.psnr,
        ssim=ssim,
        bits_per_pixel=metrics.bits_per_pixel(len(out.data), height, width),
        ranks=out.ranks,
        encode_seconds=seconds,
        policy=policy,
        layout=out.layout.describe(),
    )


def compress_image(
    data: bytes,
    policy: RankPolicy,
    *,
    max_pixels: int | None = None,
    keep_alpha: bool = True,
    threads: int | None = 1,
) -> EncodeResult:
    """Image file bytes (JPEG, PNG, WebP, TIFF, BMP, ...) -> `EncodeResult`; `CodecError` on bad input."""
    with heap.call_scope():  # what decoding the file frees is this call's growth too (`heap`)
        pixels = load_image(data, max_pixels=max_pixels, keep_alpha=keep_alpha)
        return encode_pixels(pixels, policy, threads=threads)


def encode(
    pixels: np.ndarray,
    *,
    psnr: float | None = None,
    rank: int | None = None,
    energy: float | None = None,
    max_bytes: int | None = None,
) -> bytes:
    """uint8 pixels -> `.svdz` bytes. At most one policy option; the default is psnr=35."""
    policy = RankPolicy.from_options(psnr=psnr, rank=rank, energy=energy, max_bytes=max_bytes)
    with blas_threads(1):
        return encode_array(check_pixels(pixels), policy).data


def inspect(data: bytes, *, max_pixels: int = container.DEFAULT_MAX_PIXELS) -> dict[str, Any]:
    """The validated header fields of an `.svdz` file (JSON-serialisable, strings made printable). The whole file
    is checked as `decode` checks it, short of rendering; fields a file adds beyond the format are not shown."""
    data = bytes(data)
    version, header, payload = container.read_header(data, max_pixels=max_pixels)
    check(data, max_pixels=max_pixels)
    return {
        **header.extra,
        "format": "svdz",
        "version": version,
        "file_bytes": len(data),
        "payload_bytes": len(payload),
        "width": header.width,
        "height": header.height,
        "channels": header.channels,
        "color": header.color,
        "planes": [
            {"h": p.height, "w": p.width, "th": p.tile_h, "tw": p.tile_w, "step": p.step} for p in header.planes
        ],
        "sections": list(header.sections),
        "deblock": header.deblock,
    }


__all__ = ["SVDZ_SUFFIX", "EncodeResult", "compress_image", "decode", "encode", "encode_pixels", "inspect"]
