"""The `.svdz` byte layout (see FORMAT.md): fixed prefix, JSON header, zstd payload, CRC32 over both."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np
import zstandard
from PIL import Image

from image_assets.codec.errors import CodecError
from image_assets.codec.header import Header, parse_json, validate
from image_assets.codec.quant import PlaneCode, PlaneLayout

MAGIC = b"SVDZ"
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)  # 1: vectors tile-major; 2: index-major (all 1st triplets, then all 2nd, ...)
PREFIX = struct.Struct("<4sBBII")  # magic, version, flags, header length, crc32(header + payload)
ESCAPE = -128
DEFAULT_MAX_PIXELS = int(Image.MAX_IMAGE_PIXELS or 89_478_485)  # Pillow's decompression-bomb limit
MAX_EXPANSION = 64  # decompressed coefficient bytes per payload byte; real files are ~2-3
EXPANSION_SLACK = 1 << 16
# Largest step a plane with kept triplets may carry: real encoders stay below ~1e7 (a larger step keeps nothing), and
# up to here a reconstructed value (rank x |qu| |qv| / sqrt(|qu| |qv|) x step, int32 coefficients) stays finite in
# float32, so a hostile step cannot turn the image into inf/NaN.
MAX_USED_STEP = 1e12
MIN_TILE = 8  # the encoder's tiles are 16 or the whole plane; smaller ones only make ranks sections huge
ZSTD_LEVEL = 10  # 12 is 0.4% smaller but 2.6x slower; 19 ~6% smaller but ~20x slower


def _pack_ints(values: np.ndarray) -> tuple[bytes, bytes]:
    """int8 stream with -128 escaping to an int32 side stream: most coefficients are small."""
    big = (values <= ESCAPE) | (values > 127)
    small = np.where(big, ESCAPE, values).astype(np.int8)
    return small.tobytes(), values[big].astype("<i4").tobytes()


def index_order(ranks: np.ndarray) -> np.ndarray:
    """Permutation from tile-major triplet rows to index-major ones: triplet j of every tile, then j+1.

    Magnitudes fall with j, so this order groups similar statistics and zstd's entropy stage gains ~6%.
    """
    rmax = int(ranks.max(initial=0))
    mask = np.arange(rmax)[None, :] < ranks[:, None]
    rows = np.full(mask.shape, -1, dtype=np.int64)
    rows[mask] = np.arange(int(mask.sum()))
    return rows.T[mask.T]


def _unpack_ints(small: bytes, escapes: bytes) -> np.ndarray:
    values = np.frombuffer(small, dtype=np.int8).astype(np.int32)
    big = values == ESCAPE
    extra = np.frombuffer(escapes, dtype="<i4")
    if int(big.sum()) != extra.size:
        raise CodecError("corrupt .svdz payload: escape count mismatch")
    values[big] = extra
    return values


def write(
    header: dict[str, Any], layouts: list[PlaneLayout], codes: list[PlaneCode], *, level: int = ZSTD_LEVEL
) -> bytes:
    """Serialise planes and header (the header gains the plane table and section sizes)."""
    ranks = np.concatenate([c.ranks for c in codes]).astype("<u2")
    orders = [index_order(c.ranks) for c in codes]
    ints = np.concatenate(
        [np.concatenate([c.qu[o].ravel(), c.qv[o].ravel()]) for c, o in zip(codes, orders, strict=True)]
    )
    small, escapes = _pack_ints(ints)
    raw = ranks.tobytes() + small + escapes
    header = dict(header)
    header["planes"] = [
        {
            "h": lay.height,
            "w": lay.width,
            "th": lay.tile_h,
            "tw": lay.tile_w,
            "weight": round(lay.weight, 6),
            "step": code.step,
        }
        for lay, code in zip(layouts, codes, strict=True)
    ]
    header["sections"] = [len(ranks.tobytes()), len(small), len(escapes)]
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    payload = zstandard.ZstdCompressor(level=level).compress(raw)
    crc = zlib.crc32(head + payload)
    return PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(head), crc) + head + payload


def read_header(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, Header, bytes]:
    """Check prefix, checksum and the header schema; return (version, validated header, compressed payload)."""
    if len(data) < PREFIX.size:
        raise CodecError(f"not an .svdz file: {len(data)} bytes is shorter than the {PREFIX.size}-byte prefix")
    magic, version, _flags, head_len, crc = PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise CodecError("not an .svdz file (bad magic)")
    if version not in SUPPORTED_VERSIONS:
        raise CodecError(f"unsupported .svdz version {version} (this build reads {SUPPORTED_VERSIONS})")
    body = memoryview(data)[PREFIX.size :]
    if head_len > len(body):
        raise CodecError("truncated .svdz file (header runs past the end)")
    if zlib.crc32(body) != crc:
        raise CodecError("corrupt .svdz file (checksum mismatch)")
    fields = parse_json(bytes(body[:head_len]))
    return version, validate(fields, max_pixels=max_pixels), bytes(body[head_len:])


def read(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, list[PlaneLayout], list[PlaneCode]]:
    """Parse and validate a whole file; anything wrong is a CodecError, and nothing is allocated beyond what the
    validated geometry and the file's own size allow."""
    version, header, payload = read_header(bytes(data), max_pixels=max_pixels)
    try:
        return _parse(header, payload, version)
    except CodecError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, zstandard.ZstdError) as exc:
        raise CodecError(f"corrupt .svdz file ({type(exc).__name__})") from None


def _read_exactly(reader: Any, size: int, what: str) -> bytes:
    """`size` decompressed bytes, never more: a frame's declared content size is not trusted."""
    chunks, missing = [], size
    while missing > 0:
        chunk = reader.read(min(missing, 1 << 20))
        if not chunk:
            raise CodecError(f"corrupt .svdz payload ({what} is shorter than the header says)")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _parse(header: Header, payload: bytes, version: int) -> tuple[Header, list[PlaneLayout], list[PlaneCode]]:
    layouts = [PlaneLayout(p.height, p.width, p.tile_h, p.tile_w, p.weight) for p in header.planes]
    for plane in header.planes:
        if plane.tile_h < min(plane.height, MIN_TILE) or plane.tile_w < min(plane.width, MIN_TILE):
            raise CodecError("corrupt .svdz header (tiles smaller than the format allows)")
    n_ranks, n_small, n_escape = header.sections
    tiles = sum(lay.tiles for lay in layouts)
    if n_ranks != 2 * tiles:
        raise CodecError("corrupt .svdz header (the ranks section does not match the geometry)")
    # Decode work grows with the coefficient count: a small file cannot ask for many (zeros compress too well).
    if n_small + n_escape > MAX_EXPANSION * len(payload) + EXPANSION_SLACK or n_escape > 4 * n_small:
        raise CodecError("corrupt .svdz header (more coefficients than a file of this size can hold)")
    reader = zstandard.ZstdDecompressor().stream_reader(payload)
    ranks = np.frombuffer(_read_exactly(reader, n_ranks, "ranks"), dtype="<u2").astype(np.int64)
    expected = 0
    r_pos = 0
    for lay, plane in zip(layouts, header.planes, strict=True):
        plane_ranks = ranks[r_pos : r_pos + lay.tiles]
        r_pos += lay.tiles
        if int(plane_ranks.max(initial=0)) > min(lay.tile_h, lay.tile_w):
            raise CodecError("corrupt .svdz payload (ranks)")
        if plane.step > MAX_USED_STEP and plane_ranks.any():
            raise CodecError("corrupt .svdz header (a step too large for the coefficients that use it)")
        expected += int(plane_ranks.sum()) * (lay.tile_h + lay.tile_w)
    if expected != n_small:
        raise CodecError("corrupt .svdz payload (coefficient count does not match the ranks)")
    small = _read_exactly(reader, n_small, "coefficients")
    escapes = _read_exactly(reader, n_escape, "escapes")
    if reader.read(1):
        raise CodecError("corrupt .svdz payload (trailing data)")
    ints = _unpack_ints(small, escapes)
    codes, r_pos, i_pos = [], 0, 0
    for lay, plane in zip(layouts, header.planes, strict=True):
        plane_ranks = ranks[r_pos : r_pos + lay.tiles]
        r_pos += lay.tiles
        n = int(plane_ranks.sum())
        nu, nv = n * lay.tile_h, n * lay.tile_w
        qu = ints[i_pos : i_pos + nu].reshape(n, lay.tile_h)
        qv = ints[i_pos + nu : i_pos + nu + nv].reshape(n, lay.tile_w)
        i_pos += nu + nv
        if version >= 2:
            order = index_order(plane_ranks)
            tile_u, tile_v = np.empty_like(qu), np.empty_like(qv)
            tile_u[order], tile_v[order] = qu, qv
            qu, qv = tile_u, tile_v
        codes.append(PlaneCode(ranks=plane_ranks, qu=qu, qv=qv, step=plane.step))
    return header, layouts, codes
