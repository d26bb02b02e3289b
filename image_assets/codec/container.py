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
    payload = Payload(layouts, [c.ranks for c in codes], grow=True)
    for index, code in enumerate(codes):
        payload.add(index, code)
    return payload.finish(header, [c.step for c in codes], level=level)


class Payload:
    """A file assembled from codes that arrive a band of tiles at a time (each plane's tiles in order): every
    quantised vector lands straight in its index-major place (see `index_order`) in one buffer holding the
    ranks, then the int8 coefficients, then the escapes, compressed in one call at the end (a zstd stream fed
    in pieces does not always give the same bytes as one call).

    With `grow`, planes must arrive one after the other and the buffer grows a plane at a time, so an encode
    that drops its factors as they are written never holds all of both.
    """

    def __init__(self, layouts: list[PlaneLayout], ranks: list[np.ndarray], *, grow: bool = False) -> None:
        self.layouts = layouts
        self.ranks = [r.astype(np.int64) for r in ranks]
        all_ranks = np.concatenate(self.ranks).astype("<u2")
        self.head = all_ranks.nbytes
        sizes = [int(r.sum()) * (lay.tile_h + lay.tile_w) for lay, r in zip(layouts, self.ranks, strict=True)]
        self.starts = [0, *np.cumsum(sizes, dtype=np.int64).tolist()]
        self.ready = 0 if grow else len(layouts)  # planes with room in `raw`
        self.raw = np.empty(self.head + (0 if grow else self.starts[-1]), np.uint8)
        self.raw[: self.head] = all_ranks.view(np.uint8)
        self.cursors = [_Cursor(r) for r in self.ranks]
        self.where: list[np.ndarray] = []
        self.escaped: list[np.ndarray] = []

    def add(self, index: int, code: PlaneCode) -> None:
        """The next tiles of plane `index`, as `quantize` gives them (rows tile-major)."""
        if index >= self.ready:
            if index != self.ready:
                raise ValueError("a growing payload takes its planes in order")
            self.raw.resize(self.head + self.starts[index + 1], refcheck=False)  # grows in place when it can
            self.ready += 1
        cursor, lay, start = self.cursors[index], self.layouts[index], self.starts[index]
        rows = cursor.rows(len(code.ranks))
        qu_size = cursor.n_rows * lay.tile_h
        small = self.raw[self.head + start : self.head + self.starts[index + 1]].view(np.int8)
        areas = (
            (small[:qu_size].reshape(cursor.n_rows, lay.tile_h), start, lay.tile_h, code.qu),
            (small[qu_size:].reshape(cursor.n_rows, lay.tile_w), start + qu_size, lay.tile_w, code.qv),
        )
        for area, first, width, vectors in areas:
            big = (vectors <= ESCAPE) | (vectors > 127)
            area[rows] = np.where(big, ESCAPE, vectors)
            if big.any():
                row, col = np.nonzero(big)
                self.where.append(first + rows[row] * width + col)
                self.escaped.append(vectors[big])

    def finish(self, header: dict[str, Any], steps: list[float], *, level: int = ZSTD_LEVEL) -> bytes:
        """The file: prefix, header (gaining the plane table and section sizes) and the compressed payload."""
        if any(cursor.tile != len(cursor.ranks) for cursor in self.cursors):
            raise ValueError("a payload finished before every tile was added")
        raw, self.raw = self.raw, np.empty(0, np.uint8)
        n_small, n_escape = self.starts[-1], sum(len(e) for e in self.escaped)
        if n_escape:
            positions = np.concatenate(self.where)
            escapes = np.concatenate(self.escaped)[np.argsort(positions, kind="stable")].astype("<i4")
            del positions
            raw.resize(self.head + n_small + escapes.nbytes, refcheck=False)
            raw[self.head + n_small :] = escapes.view(np.uint8)
            del escapes
        self.where, self.escaped = [], []
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
        header["sections"] = [self.head, n_small, 4 * n_escape]
        head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
        payload = zstandard.ZstdCompressor(level=level).compress(memoryview(raw))
        del raw
        crc = zlib.crc32(payload, zlib.crc32(head))
        return b"".join((PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(head), crc), head, payload))


class _Cursor:
    """Where the next tiles of one plane go: rows are index-major (triplet 0 of every tile that has one, then
    triplet 1, ...), tiles in order within an index."""

    def __init__(self, ranks: np.ndarray) -> None:
        self.ranks = ranks
        self.n_rows = int(ranks.sum())
        rmax = int(ranks.max(initial=0))
        self.columns = np.arange(rmax)
        holding = np.bincount(ranks, minlength=rmax + 1)[::-1].cumsum()[::-1][1:]  # tiles holding each index
        self.base = np.concatenate([[0], np.cumsum(holding)[:-1]]).astype(np.int64)  # first row of each index
        self.seen = np.zeros(rmax, np.int64)  # tiles placed so far holding each index
        self.tile = 0

    def rows(self, count: int) -> np.ndarray:
        """The payload rows of the next `count` tiles' triplets, in their tile-major order."""
        mask = self.columns[None, :] < self.ranks[self.tile : self.tile + count, None]
        rows = (self.base + self.seen + np.cumsum(mask, axis=0) - 1)[mask]
        self.seen += mask.sum(axis=0)
        self.tile += count
        return rows


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
