"""The `.svdz` header as untrusted input: strict JSON, a strict schema, and limits checked before any allocation.

A header comes from anyone. It is parsed with bounded size, bounded nesting, no NaN/Infinity and no huge
integers, then checked field by field (types, ranges, finite numbers). Only the validated `Header` reaches the
decoder and `inspect`, so nothing a file says can make the decoder allocate, loop or compute beyond what the
geometry and the file's own size allow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from image_assets.codec.errors import CodecError
from image_assets.codec.planes import COLOR_MODELS

MAX_HEADER_BYTES = 64 * 1024
MAX_DEPTH = 8  # the schema nests 3 deep (header → planes → plane); anything deeper is not ours
MAX_INT_DIGITS = 19
MAX_SIDE = 1 << 16
MAX_PLANES = 4
MAX_TEXT = 200

# A plane whose every tile keeps rank 0 (a flat grey plane) may carry any large step: the encoder's search grows it
# until nothing is kept (over 1e9 for a grey near 128), and no coefficient uses it. So the header takes any finite
# positive step, and the container refuses one above container.MAX_USED_STEP only where coefficients use it.
MAX_STEP = 1.7e308
MAX_DEBLOCK = 1e4  # strengths past ~300 filter every edge of a uint8 image alike


@dataclass(frozen=True)
class PlaneHeader:
    height: int
    width: int
    tile_h: int
    tile_w: int
    weight: float
    step: float

    @property
    def tiles(self) -> int:
        return -(-self.height // self.tile_h) * -(-self.width // self.tile_w)


@dataclass(frozen=True)
class Header:
    """The validated fields; `extra` keeps the informative ones (policy, layout, psnr, encoder) as safe text."""

    width: int
    height: int
    channels: int
    color: str
    planes: tuple[PlaneHeader, ...]
    sections: tuple[int, ...]  # v1/v2: ranks, small and escaped coefficient bytes; v3: each plane's stream bytes
    extra: dict[str, str | float | None]
    deblock: float = 0.0  # v3: strength of the deblocking filter (0: off)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _reject_constant(name: str) -> Any:
    raise CodecError(f"corrupt .svdz header ({name} is not a number JSON allows)")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise CodecError("corrupt .svdz header (an integer is too long)")
    return int(text)


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def parse_json(raw: bytes) -> dict[str, Any]:
    """The header bytes as a JSON object, or CodecError (never RecursionError, ValueError or OverflowError)."""
    if len(raw) > MAX_HEADER_BYTES:
        raise CodecError(f"corrupt .svdz header ({len(raw)} bytes; at most {MAX_HEADER_BYTES})")
    if raw.count(b"[") + raw.count(b"{") > 4 * MAX_DEPTH + 64:  # cheap guard before the recursive parser
        raise CodecError("corrupt .svdz header (too deeply nested)")
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_int=_bounded_int)
    except CodecError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CodecError("corrupt .svdz header (not JSON)") from None
    if not isinstance(value, dict):
        raise CodecError("corrupt .svdz header (not an object)")
    if _depth(value) > MAX_DEPTH:
        raise CodecError("corrupt .svdz header (too deeply nested)")
    return value


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CodecError(f"corrupt .svdz header ({name} must be an integer in {low}..{high})")
    return value


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodecError(f"corrupt .svdz header ({name} must be a number)")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise CodecError(f"corrupt .svdz header ({name} must be a finite number in {low:g}..{high:g})")
    return number


def safe_text(value: Any) -> str:
    """Printable, single-line, bounded text: header strings reach terminals through `inspect`."""
    text = str(value)[:MAX_TEXT]
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def validate(fields: dict[str, Any], *, max_pixels: int, version: int = 3) -> Header:
    """Check every field the decoder uses; geometry against `max_pixels` before anything is allocated."""
    width = _int(fields.get("width"), "width", 1, MAX_SIDE)
    height = _int(fields.get("height"), "height", 1, MAX_SIDE)
    channels = _int(fields.get("channels"), "channels", 1, 4)
    if width * height > max_pixels:
        raise CodecError(f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}")
    color = fields.get("color")
    if color not in COLOR_MODELS:
        raise CodecError(f"unsupported colour model {safe_text(color)!r} in .svdz header")
    planes_field = fields.get("planes")
    if not isinstance(planes_field, list) or not 1 <= len(planes_field) <= MAX_PLANES:
        raise CodecError(f"corrupt .svdz header (planes must be a list of 1..{MAX_PLANES})")
    planes = []
    for index, plane in enumerate(planes_field):
        if not isinstance(plane, dict):
            raise CodecError(f"corrupt .svdz header (plane {index} is not an object)")
        h = _int(plane.get("h"), f"plane {index} h", 1, height)
        w = _int(plane.get("w"), f"plane {index} w", 1, width)
        planes.append(
            PlaneHeader(
                height=h,
                width=w,
                tile_h=_int(plane.get("th"), f"plane {index} th", 1, h),
                tile_w=_int(plane.get("tw"), f"plane {index} tw", 1, w),
                weight=_number(plane.get("weight", 1.0), f"plane {index} weight", 0.0, 1e6),
                step=_number(plane.get("step"), f"plane {index} step", 1e-9, MAX_STEP),
            )
        )
    sections = fields.get("sections")
    count = 3 if version < 3 else len(planes)
    if not isinstance(sections, list) or len(sections) != count:
        raise CodecError(f"corrupt .svdz header (sections must be a list of {count} sizes)")
    sizes = tuple(_int(size, "section size", 0, 1 << 40) for size in sections)
    extra: dict[str, str | float | None] = {}
    for key in ("layout", "policy", "encoder"):
        if key in fields:
            extra[key] = safe_text(fields[key])
    if fields.get("psnr") is not None:
        extra["psnr"] = _number(fields["psnr"], "psnr", 0.0, 1000.0)
    elif "psnr" in fields:
        extra["psnr"] = None
    deblock = _number(fields.get("deblock", 0.0), "deblock", 0.0, MAX_DEBLOCK) if version >= 3 else 0.0
    return Header(width, height, channels, color, tuple(planes), sizes, extra, deblock)
