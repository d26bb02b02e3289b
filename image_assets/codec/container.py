"""The `.svdz` byte layout (see FORMAT.md): fixed prefix, JSON header, payload, CRC32 over both.

Version 5 (written) codes each plane's ranks with a range coder and its vectors with adaptive rANS, a coefficient's
value and sign one letter (`entropy_v5.py`); version 4 (read only) as 5 with magnitude letters and sign decisions
(`entropy_v4.py`), version 3 the whole plane with the range coder (`entropy.py`); versions 1 and 2 (read only) hold one
zstd frame of int8 coefficients with int32 escapes."""

from __future__ import annotations

import itertools
import json
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np
import zstandard
from PIL import Image

from image_assets.codec.errors import CodecError
from image_assets.codec.header import Header, parse_json, validate
from image_assets.codec.quant import PlaneCode, PlaneLayout, band_code

MAGIC = b"SVDZ"
FORMAT_VERSION = 5
# 1: vectors tile-major, zstd; 2: index-major (all 1st triplets, then all 2nd, ...), zstd; 3: DCT-domain vectors,
# one context-modelled range-coded stream per plane; 4: as 3, the vectors in rANS blocks with 16-letter alphabets;
# 5: as 4, the letters signed values (-7..7) rather than magnitudes.
SUPPORTED_VERSIONS = (1, 2, 3, 4, 5)
ENTROPY_CODER = "rans-signed16"  # what v5 writes (recorded with every compression run)
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
# v3 decode work grows with the coefficients the ranks declare; a range coder can make an all-zero vector cost a
# hundredth of a bit, so a small file could declare billions. Real files stay under ~1,000 per byte (flat tiles).
MAX_COEFFICIENTS_PER_BYTE = 4096
COEFFICIENT_SLACK = 1 << 20


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


def write(header: dict[str, Any], layouts: list[PlaneLayout], codes: list[PlaneCode]) -> bytes:
    """Serialise planes and header (the header gains the plane table and section sizes)."""
    payload = Payload(layouts, [c.ranks for c in codes])
    for index, code in enumerate(codes):
        payload.add(index, code)
    return payload.finish(header, [c.step for c in codes])


def tiles_per_row(lay: PlaneLayout) -> int:
    return -(-lay.width // lay.tile_w)


class Payload:
    """A v5 file assembled from codes that arrive a band of tiles at a time, each plane's tiles in order (planes may
    interleave: each has its own stream). The ranks are coded up front, the vectors as they arrive, so only
    compressed bytes are held."""

    def __init__(
        self, layouts: list[PlaneLayout], ranks: list[np.ndarray], submit: Callable[..., Future] | None = None
    ) -> None:
        """`submit`: where finished rANS blocks are coded (`PlaneEncoderV4`); by default as they finish."""
        from image_assets.codec.entropy_v5 import (
            PlaneEncoderV5,
        )  # compiled (numba): imported on first use, so processes that only load definitions skip ~1 s

        self.layouts = layouts
        self.streams = [
            PlaneEncoderV5(r, tiles_per_row(lay), min(lay.tile_h, lay.tile_w), submit)
            for lay, r in zip(layouts, ranks, strict=True)
        ]
        self.expected = [int(np.asarray(r).size) for r in ranks]
        self.added = [0] * len(layouts)

    def add(self, index: int, code: PlaneCode) -> None:
        """The next tiles of plane `index`, as `quantize` gives them (rows tile-major, DCT domain)."""
        if not code.dct:
            raise ValueError("formats v3 to v5 store DCT-domain vectors")
        self.streams[index].add(code.ranks, code.qu, code.qv)
        self.added[index] += len(code.ranks)  # each plane's own slot: planes may be added from different threads

    def finish(self, header: dict[str, Any], steps: list[float]) -> bytes:
        """The file: prefix, header (gaining the plane table and section sizes) and the plane streams."""
        if self.added != self.expected:
            raise ValueError("a payload finished before every tile was added")
        streams = [stream.finish_chunks() for stream in self.streams]
        header = dict(header)
        header["planes"] = [
            {
                "h": lay.height,
                "w": lay.width,
                "th": lay.tile_h,
                "tw": lay.tile_w,
                "weight": round(lay.weight, 6),
                "step": float(step),
            }
            for lay, step in zip(self.layouts, steps, strict=True)
        ]
        header["sections"] = [sum(len(chunk) for chunk in chunks) for chunks in streams]
        head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
        crc = zlib.crc32(head)
        for chunks in streams:
            for chunk in chunks:
                crc = zlib.crc32(chunk, crc)
        # one join of every piece: the streams are held once more (as the file), not twice more
        return b"".join([PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(head), crc), head, *itertools.chain(*streams)])


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
    return version, validate(fields, max_pixels=max_pixels, version=version), bytes(body[head_len:])


class TileCode:
    """A plane's code handed out a band of tiles at a time, in order (v1/v2: parsed whole up front)."""

    def __init__(self, code: PlaneCode) -> None:
        self.ranks = code.ranks
        self.code = code
        self.offsets = np.concatenate([[0], np.cumsum(code.ranks)])

    def band(self, first: int, last: int) -> PlaneCode:
        return band_code(self.code, self.offsets, first, last)


class StreamCode:
    """A v3, v4 or v5 plane: ranks decoded up front (the geometry checks need them), vectors decoded a band of tiles at
    a time as rendering asks for them, so a decode holds one band's coefficients, not the image's."""

    def __init__(self, stream: np.ndarray, lay: PlaneLayout, step: float, version: int) -> None:
        from image_assets.codec import (
            entropy,
            entropy_v4,
            entropy_v5,
        )  # compiled (numba): imported on first use, so processes that only load definitions skip ~1 s

        self.stream = stream
        self.lay = lay
        self.step = step
        self.version = version
        self.ranks = np.zeros(lay.tiles, np.int64)
        self.cursor = np.zeros(3, np.int64)
        limit = min(lay.tile_h, lay.tile_w)
        if version >= 4:
            parts = entropy_v4.split_stream(stream)
            if parts is None:
                raise CodecError("corrupt .svdz payload (a plane's ranks run past its stream)")
            entropy.decode_plane_ranks(parts[0], lay.tiles, tiles_per_row(lay), limit, self.ranks, self.cursor)
            self.cursor[:] = (entropy_v4.RANS_LOW, entropy_v4.RANS_LOW, parts[1])
            self.stream = np.concatenate([stream, np.zeros(2, np.uint8)])  # the branch-free reads' padding
            self.probs = entropy.new_probabilities()
            self.rans = entropy_v5 if version >= 5 else entropy_v4  # the vectors' model (both share v4's blocks)
            self.alphabets = self.rans.new_alphabets()
        else:
            self.probs = entropy.decode_plane_ranks(
                stream, lay.tiles, tiles_per_row(lay), limit, self.ranks, self.cursor
            )
        self.next_tile = 0

    def band(self, first: int, last: int) -> PlaneCode:
        if first != self.next_tile:
            raise ValueError("a stream plane is decoded band after band, in order")
        ranks = self.ranks[first:last]
        rows = int(ranks.sum())
        qu = np.empty((rows, self.lay.tile_h), np.int32)
        qv = np.empty((rows, self.lay.tile_w), np.int32)
        from image_assets.codec import entropy, entropy_v4

        if self.version >= 4:
            block_tiles = entropy_v4.block_tiles(tiles_per_row(self.lay))
            status = self.rans.decode_plane_vectors(
                self.stream, self.probs, self.alphabets, self.cursor, self.ranks, first, last, block_tiles, qu, qv
            )
        else:
            status = entropy.decode_plane_vectors(self.stream, self.probs, self.cursor, ranks, qu, qv)
        if status == entropy.DECODE_BAD_LAST:
            raise CodecError("corrupt .svdz payload (a vector longer than its tile)")
        if status != entropy.DECODE_OK:
            raise CodecError("corrupt .svdz payload (a coding state the encoder cannot produce)")
        self.next_tile = last
        return PlaneCode(ranks, qu, qv, self.step, dct=True)


PlaneSource = TileCode | StreamCode


def read(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Header, list[PlaneLayout], list[PlaneSource]]:
    """Parse and validate a file; anything wrong is a CodecError, and nothing is allocated beyond what the
    validated geometry and the file's own size allow. Version 3 planes decode their vectors lazily (`band`)."""
    version, header, payload = read_header(bytes(data), max_pixels=max_pixels)
    try:
        if version >= 3:
            return _parse_streams(header, payload, version)
        header, layouts, codes = _parse(header, payload, version)
        return header, layouts, [TileCode(code) for code in codes]
    except CodecError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, zstandard.ZstdError) as exc:
        raise CodecError(f"corrupt .svdz file ({type(exc).__name__})") from None


def _geometry(header: Header) -> list[PlaneLayout]:
    for plane in header.planes:
        if plane.tile_h < min(plane.height, MIN_TILE) or plane.tile_w < min(plane.width, MIN_TILE):
            raise CodecError("corrupt .svdz header (tiles smaller than the format allows)")
    return [PlaneLayout(p.height, p.width, p.tile_h, p.tile_w, p.weight) for p in header.planes]


def _parse_streams(header: Header, payload: bytes, version: int) -> tuple[Header, list[PlaneLayout], list[PlaneSource]]:
    layouts = _geometry(header)
    if sum(header.sections) != len(payload):
        raise CodecError("corrupt .svdz header (the plane streams do not add up to the payload)")
    sources: list[PlaneSource] = []
    start = 0
    for lay, plane, size in zip(layouts, header.planes, header.sections, strict=True):
        stream = np.frombuffer(payload, np.uint8, count=size, offset=start)
        start += size
        source = StreamCode(stream, lay, plane.step, version)
        if plane.step > MAX_USED_STEP and source.ranks.any():
            raise CodecError("corrupt .svdz header (a step too large for the coefficients that use it)")
        if int(source.ranks.sum()) * (lay.tile_h + lay.tile_w) > MAX_COEFFICIENTS_PER_BYTE * size + COEFFICIENT_SLACK:
            raise CodecError("corrupt .svdz header (more coefficients than a file of this size can hold)")
        sources.append(source)
    return header, layouts, sources


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
    layouts = _geometry(header)
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
