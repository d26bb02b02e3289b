"""Format v3's deblocking filter: hides the tile grid of the decoded image (numba, in place on uint8 pixels).

Each 16x16 tile is approximated on its own, so neighbouring tiles meet with a small step even where the image is
smooth, and the eye finds that grid at low rates. Across every tile edge the filter measures the jump left over
after the local slope is accounted for. Between smooth sides a jump below `FLAT_EDGE` x strength is spread as a
linear ramp over 4 pixels each side; elsewhere a jump below `EDGE` x strength moves only the two pixels at the edge,
by at most strength / 2; larger jumps are real edges. Edges that are also chroma tile edges (every other one in
4:2:0) use `COARSE_BOOST` x the strength: chroma is quantised coarser, and its seams showed across faces. Vertical
edges first, then horizontal ones (a pixel lies within 4 of at most one edge in each direction, so the result does
not depend on the order edges are visited). Settings chosen on PSNR and SSIM over 10 photos and by eye on the
crops in `benchmarks/results/crops/`.

The strength comes from the header (the encoder sets it from the quantisation step and measures the PSNR with
the filter applied), so decoders need no tuning of their own.
"""

from __future__ import annotations

import itertools

import numpy as np
from numba import njit

from image_assets.codec.vector16 import copy3, copy4

EDGE = 2.0  # jumps below EDGE x strength are filtered
FLAT = 1.0  # both sides count as smooth when their 3-pixel variation is below FLAT x strength
FLAT_EDGE = 2.0  # between smooth sides, jumps below FLAT_EDGE x strength are spread as a ramp (3 lost SSIM)
COARSE_BOOST = 1.5  # chroma tile edges (4:2:0: every other luma tile edge) carry coarser steps


@njit(cache=True, inline="always")
def _corrections(p3, p2, p1, p0, q0, q1, q2, q3, strength):
    """Amounts to add to p0, p1, p2, p3 (and subtract from q0..q3) across one edge. Arithmetic only (masks as
    0/1 factors, no branches), so the loops over lines vectorise."""
    slope = np.float32(0.5) * ((p0 - p1) + (q1 - q0))
    jump = (q0 - p0) - slope
    smooth = np.float32(abs(p2 - p0) + abs(q2 - q0) < np.float32(FLAT) * strength)
    edge = np.float32(abs(jump) < np.float32(EDGE) * strength)
    flat = smooth * np.float32(abs(jump) < np.float32(FLAT_EDGE) * strength)
    edge = np.maximum(edge, flat)
    limit = np.float32(0.5) * strength
    weak = min(max(np.float32(0.25) * jump, -limit), limit) * edge * (np.float32(1.0) - flat)
    ramp = jump * np.float32(1.0 / 9.0) * flat
    return np.float32(4.0) * ramp + weak, np.float32(3.0) * ramp, np.float32(2.0) * ramp, ramp


@njit(cache=True, inline="always")
def _store(value):
    """Round to the nearest integer in 0..255 (halves up)."""
    return np.uint8(min(max(value, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


@njit(cache=True, nogil=True, inline="always")
def _filter_lines(lines, count, active, strengths, scale):
    """Filter `count` lines across one edge each, in place: lines[i, j] (float32) is pixel i (p3 p2 p1 p0 q0 q1 q2
    q3) of line j, filtered at strength strengths[j] * scale; `active[j]` is 1, or 0 for a line left alone
    (alpha). Float arithmetic only, so it vectorises."""
    for j in range(count):
        p3, p2, p1, p0 = lines[0, j], lines[1, j], lines[2, j], lines[3, j]
        q0, q1, q2, q3 = lines[4, j], lines[5, j], lines[6, j], lines[7, j]
        d0, d1, d2, d3 = _corrections(p3, p2, p1, p0, q0, q1, q2, q3, strengths[j] * scale)
        on = active[j]
        lines[0, j] = p3 + d3 * on
        lines[1, j] = p2 + d2 * on
        lines[2, j] = p1 + d1 * on
        lines[3, j] = p0 + d0 * on
        lines[4, j] = q0 - d0 * on
        lines[5, j] = q1 - d1 * on
        lines[6, j] = q2 - d2 * on
        lines[7, j] = q3 - d3 * on


@njit(cache=True, inline="always")
def _edge_strength(position, grid, coarse, strength):
    """Edges that are also chroma tile edges (every `coarse`-th one in 4:2:0) get COARSE_BOOST x the strength."""
    if coarse > 1 and (position // grid) % coarse == 0:
        return strength * np.float32(COARSE_BOOST)
    return strength


@njit(cache=True, nogil=True, inline="always")
def _gather3(row, edges, lines, stride):
    """lines[i * stride + 3e + c] = row[3 (edges[e] - 4 + i) + c] (`row`: one image row of 3 channels, flat), as
    4-byte copies whose 4th byte the next copy overwrites (each line row has a spare byte after the last edge)."""
    for e in range(edges.size):
        source = 3 * (edges[e] - 4)
        for i in range(7):
            copy4(row, source + 3 * i, lines, i * stride + 3 * e)
        copy3(row, source + 21, lines, 7 * stride + 3 * e)


@njit(cache=True, nogil=True, inline="always")
def _scatter3(lines, edges, row, stride):
    """The inverse of `_gather3` (the 4th byte of a copy lands on the next pixel, which the next copy writes)."""
    for e in range(edges.size):
        target = 3 * (edges[e] - 4)
        for i in range(7):
            copy4(lines, i * stride + 3 * e, row, target + 3 * i)
        copy3(lines, 7 * stride + 3 * e, row, target + 21)


@njit(cache=True, nogil=True, inline="always")
def _vertical_edges3(pixels, edges, active, strengths, start, stop):
    """The vertical edges of rows start..stop-1 of a 3-channel image (the common case): each edge's 8 pixels are
    24 bytes of a row, copied into a byte line buffer whole pixels at a time, then converted, filtered and rounded
    as flat runs."""
    height, width, _ = pixels.shape
    stride = edges.size * 3 + 1
    line_bytes = np.empty(8 * stride, np.uint8)
    lines = np.empty(8 * stride, np.float32)
    rows = pixels.reshape(height, width * 3)
    for y in range(start, stop):
        _gather3(rows[y], edges, line_bytes, stride)
        for k in range(lines.size):
            lines[k] = np.float32(line_bytes[k])
        _filter_lines(lines.reshape(8, stride), edges.size * 3, active, strengths, np.float32(1.0))
        for k in range(lines.size):
            line_bytes[k] = _store(lines[k])
        _scatter3(line_bytes, edges, rows[y], stride)


@njit(cache=True, nogil=True)
def deblock(pixels, channels, grid_h, grid_w, coarse, strength, start, stop):
    """Filter the tile edges within rows start..stop-1 of the first `channels` channels of an HxWxC uint8 image,
    in place: vertical edges (gathered row by row into a line buffer), then the horizontal ones whose 8 rows lie
    inside (rows are already lines). Strips cut as `strips` does filter every edge exactly once."""
    height, width, depth = pixels.shape
    if strength <= 0.0:
        return
    edges = np.arange(max(grid_w, 4), width - 3, grid_w)
    active = np.empty(max(edges.size, width) * depth, np.float32)
    for j in range(active.size):
        active[j] = np.float32(1.0) if j % depth < channels else np.float32(0.0)
    ones = np.ones(width * depth, np.float32)
    strengths = np.empty(edges.size * depth, np.float32)
    for e in range(edges.size):
        for c in range(depth):
            strengths[e * depth + c] = _edge_strength(edges[e], grid_w, coarse, strength)
    if depth == 3:
        _vertical_edges3(pixels, edges, active, strengths, start, stop)
    else:
        lines = np.empty((8, edges.size * depth), np.float32)
        for y in range(start, stop):
            for e in range(edges.size):
                x = edges[e]
                for i in range(8):
                    for c in range(depth):
                        lines[i, e * depth + c] = pixels[y, x - 4 + i, c]
            _filter_lines(lines, edges.size * depth, active, strengths, np.float32(1.0))
            for e in range(edges.size):
                x = edges[e]
                for i in range(8):
                    for c in range(depth):
                        pixels[y, x - 4 + i, c] = _store(lines[i, e * depth + c])
    flat = pixels.reshape(height, width * depth)
    rows = np.empty((8, width * depth), np.float32)
    for y in range(max(grid_h, 4), height - 3, grid_h):
        if y - 4 < start or y + 4 > stop:
            continue
        for i in range(8):
            for j in range(width * depth):
                rows[i, j] = flat[y - 4 + i, j]
        _filter_lines(rows, width * depth, active, ones, _edge_strength(y, grid_h, coarse, strength))
        for i in range(8):
            for j in range(width * depth):
                flat[y - 4 + i, j] = _store(rows[i, j])


def strips(height: int, grid_h: int, count: int) -> list[tuple[int, int]]:
    """About `count` row ranges covering the image that `deblock` can filter independently (threads): cut half a
    tile between horizontal edges, so each edge's 8 rows fall inside one strip (tiles under 8 rows: one strip)."""
    if count <= 1 or grid_h < 8:
        return [(0, height)]
    edges = -(-height // grid_h)
    cuts = [grid_h * (edges * i // count) + grid_h // 2 for i in range(1, count)]
    bounds = [0, *sorted({c for c in cuts if 0 < c < height}), height]
    return list(itertools.pairwise(bounds))


def apply(
    pixels: np.ndarray, grid: tuple[int, int], strength: float, coarse: int = 1, rows: tuple[int, int] | None = None
) -> None:
    """Deblock decoded pixels (HxW or HxWxC uint8) in place; alpha is left alone. `coarse`: every how many tile edges
    a chroma tile edge falls (2 for 4:2:0, whose chroma tiles cover twice the pixels), else 1. `rows`: only one of
    `strips`' row ranges (the edges it owns), for threads."""
    if strength <= 0:
        return
    start, stop = rows if rows is not None else (0, pixels.shape[0])
    work = pixels if pixels.flags.c_contiguous else np.ascontiguousarray(pixels)
    hwc = work.reshape(work.shape[0], work.shape[1], -1)
    colour = 3 if hwc.shape[2] >= 3 else 1
    deblock(hwc, colour, grid[0], grid[1], coarse, np.float32(strength), start, stop)
    if work is not pixels:
        pixels[start:stop] = work[start:stop]
