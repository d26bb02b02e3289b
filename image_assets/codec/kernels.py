"""Compiled (numba) pixel kernels of format v3: tiles from DCT-domain triplets, and YCbCr 4:2:0 to RGB.

numpy pays a pass over memory, and often a temporary, per operation; these loops touch each tile and pixel once.
They define v3's arithmetic (float32, no fused multiply-add, sequential sums): the encoder renders its trials
with them, so it measures exactly what decoders produce. The colour kernel repeats numpy's float32 operations in
the same order as `planes._from_ycc420`, so v1/v2 files decode to the same bits through either.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit

from image_assets.codec.compiled import NO_REFCOUNTS
from image_assets.codec.vector16 import accumulate_triplet16, copy_floats16, quantize16, store_tile16, vector_stats16


@functools.lru_cache(maxsize=8)
def dct_basis(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix B (n x n, float32, read-only; the last few sizes cached: every band of every
    encode and decode asks for them): coefficients q give the vector B.T @ q."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    basis = np.cos(np.pi * (i + 0.5) * k / n) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    basis = basis.astype(np.float32)
    basis.flags.writeable = False
    return basis


LIMIT = np.float32(1 << 30)  # |coefficient| cap (format v3 codes magnitudes below 2**31)


@njit(cache=True, nogil=True, inline="always")
def _norms_in_order(qu, qv, row, th, tw):
    """(|qu|^2, |qv|^2 as float64 summed in index order, one past each vector's last nonzero) of row `row`."""
    nu, nv, last_u, last_v = 0.0, 0.0, 0, 0
    for k in range(th):
        x = float(qu[row, k])
        nu += x * x
        last_u = k + 1 if x != 0.0 else last_u
    for k in range(tw):
        x = float(qv[row, k])
        nv += x * x
        last_v = k + 1 if x != 0.0 else last_v
    return nu, nv, last_u, last_v


@njit(cache=True, nogil=True, inline="always")
def _accumulate(qu, qv, row, step, basis_h, basis_w, u, v, acc):
    """acc += c * (B_h.T qu)(B_w.T qv)^T with c = step / sqrt(|qu| |qv|) (nothing if a vector is 0), qu and qv
    being row `row` of their arrays: one triplet of format v3, in the arithmetic decoders must repeat (float32
    products, sums in index order). 16x16 tiles take the same operations as vector IR (`vector16`)."""
    th, tw = basis_h.shape[0], basis_w.shape[0]
    tile16 = th == 16 and tw == 16
    exact = False
    nu, nv, last_u, last_v = 0.0, 0.0, 0, 0
    if tile16:
        su, last_u, small_u = vector_stats16(qu, row)
        sv, last_v, small_v = vector_stats16(qv, row)
        exact = small_u & small_v  # exact integer sums: the same float64 as summing in order
        nu, nv = float(su), float(sv)
    if not exact:
        # Branch-free (adding a zero square leaves the sum's bits unchanged): zero/nonzero patterns are random,
        # and a branch per coefficient cost more than the rest of the triplet.
        nu, nv, last_u, last_v = _norms_in_order(qu, qv, row, th, tw)
    norm = math.sqrt(math.sqrt(nu) * math.sqrt(nv))
    if norm == 0.0:
        return
    c = np.float32(step / norm)
    if tile16:
        accumulate_triplet16(acc, qu, qv, row, c, basis_h, basis_w, last_u, last_v)
        return
    u[:] = 0.0
    for k in range(last_u):
        coef = np.float32(qu[row, k]) * c
        for i in range(th):
            u[i] += coef * basis_h[k, i]
    v[:] = 0.0
    for k in range(last_v):
        coef = np.float32(qv[row, k])
        for i in range(tw):
            v[i] += coef * basis_w[k, i]
    for a in range(th):
        ua = u[a]
        for b in range(tw):
            acc[a, b] += ua * v[b]


@njit(cache=True, nogil=True, inline="always")
def _store_tile(acc, t, per_row, out):
    th, tw = acc.shape
    height, width = out.shape
    y0, x0 = (t // per_row) * th, (t % per_row) * tw
    if th == 16 and tw == 16 and y0 + 16 <= height and x0 + 16 <= width:
        store_tile16(acc, out, y0 * width + x0, width)
        return
    for a in range(min(th, height - y0)):
        for b in range(min(tw, width - x0)):
            out[y0 + a, x0 + b] = acc[a, b]


@njit(cache=True, nogil=True)
def tiles_to_plane(ranks, qu, qv, step, basis_h, basis_w, per_row, out):
    """Render consecutive whole tile rows (their quantised triplets, rows tile-major) into `out`: the plane rows
    of those tiles, cropped to its shape. Returns the rows used."""
    th, tw = basis_h.shape[0], basis_w.shape[0]
    u, v, acc = np.empty(th, np.float32), np.empty(tw, np.float32), np.empty((th, tw), np.float32)
    return _tiles_to_plane(ranks, qu, qv, step, basis_h, basis_w, per_row, out, u, v, acc)


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def _tiles_to_plane(ranks, qu, qv, step, basis_h, basis_w, per_row, out, u, v, acc):
    row = 0
    for t in range(ranks.size):
        acc[:, :] = 0.0
        for _ in range(ranks[t]):
            _accumulate(qu, qv, row, step, basis_h, basis_w, u, v, acc)
            row += 1
        _store_tile(acc, t, per_row, out)
    return row


@njit(cache=True, nogil=True, inline="always")
def _gain_and_sign(u, t, j, sigma, step):
    """Triplet j of tile t: f = sigma / step and the sign (+-1) that makes the pair's qu[0] >= 0, in float32."""
    f = np.float32(sigma) / np.float32(step)
    return f, (np.float32(-1.0) if u[t, 0, j] * f < 0 else np.float32(1.0))


@njit(cache=True, nogil=True, inline="always")
def _round_coefficient(value, f, flip):
    """round(value * f * flip) within the format's coefficient range (float32)."""
    return np.rint(min(max(value * f * flip, -LIMIT), LIMIT))


@njit(cache=True, nogil=True, inline="always")
def _quantize(u, vt, t, j, sigma, step, qu, qv):
    """Triplet j of tile t from DCT-domain factors (U (T, m, k), Vt (T, k, n)) as format v3 stores it:
    round(sigma * vector / step), the pair's sign making qu[0] >= 0. Same arithmetic as `quant.quantize`."""
    f, flip = _gain_and_sign(u, t, j, sigma, step)
    m, k, n = u.shape[1], u.shape[2], vt.shape[2]
    if m == 16 and n == 16:  # as vector IR: a 16x16 tile's vectors in one pass each
        quantize16(u, (t * m) * k + j, k, f * flip, qu)
        quantize16(vt, (t * k + j) * n, 1, f * flip, qv)
        return
    for i in range(qu.size):
        qu[i] = np.int32(_round_coefficient(u[t, i, j], f, flip))
    for i in range(qv.size):
        qv[i] = np.int32(_round_coefficient(vt[t, j, i], f, flip))


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def quantize_tiles(u, vt, s, slot, exact_u, exact_vt, ranks, step, qu_out, qv_out):
    """The quantised triplets of consecutive tiles (rows tile-major). `slot[t]` >= 0: tile t's factors are row
    slot[t] of exact_u / exact_vt (tiles refined after the fast pass), else row t of u / vt."""
    row = 0
    for t in range(ranks.size):
        for j in range(ranks[t]):
            if slot[t] >= 0:
                _quantize(exact_u, exact_vt, slot[t], j, s[t, j], step, qu_out[row], qv_out[row])
            else:
                _quantize(u, vt, t, j, s[t, j], step, qu_out[row], qv_out[row])
            row += 1
    return row


@njit(cache=True, nogil=True, inline="always", fastmath=True)
def _triplet_error(u, vt, row, j, sigma, step):
    """Squared error between triplet j of row `row` (sigma u v^T, orthonormal DCT-domain vectors) and what format v3
    decodes from its quantised vectors qu, qv (`_quantize`'s rounding, not stored): the decoder scales qu qv^T by
    step / sqrt(|qu| |qv|), so the error is sigma^2 + step^2 |qu| |qv| - 2 sigma step (u.qu)(v.qv) / sqrt(|qu| |qv|),
    in O(m + n). An estimate for the encoder (fastmath: sums in any order)."""
    f, flip = _gain_and_sign(u, row, j, sigma, step)
    nu, nv, du, dv = 0.0, 0.0, 0.0, 0.0  # du, dv: (u.qu) and (v.qv) times the sign, which their product cancels
    for i in range(u.shape[1]):
        x = u[row, i, j]
        q = float(_round_coefficient(x, f, flip))
        nu += q * q
        du += q * float(x)
    for i in range(vt.shape[2]):
        x = vt[row, j, i]
        q = float(_round_coefficient(x, f, flip))
        nv += q * q
        dv += q * float(x)
    energy = float(sigma) * float(sigma)
    if nu == 0.0 or nv == 0.0:  # decodes as nothing
        return energy
    size = math.sqrt(nu) * math.sqrt(nv)
    return max(energy + step * step * size - 2.0 * float(sigma) * step * du * dv / math.sqrt(size), 0.0)


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def quantization_error(u, vt, s, slot, exact_u, exact_vt, ranks, step):
    """(energy kept, error quantisation adds) over the kept triplets of consecutive tiles (arguments as
    `quantize_tiles`; errors from `_triplet_error`), without rendering them: triplets' errors add (their vectors
    are orthogonal within a tile, and rounding errors of different triplets are uncorrelated)."""
    kept, total = 0.0, 0.0
    for t in range(ranks.size):
        for j in range(ranks[t]):
            kept += float(s[t, j]) * float(s[t, j])
            if slot[t] >= 0:
                total += _triplet_error(exact_u, exact_vt, slot[t], j, s[t, j], step)
            else:
                total += _triplet_error(u, vt, t, j, s[t, j], step)
    return kept, total


@njit(cache=True, nogil=True)
def render_factor_tiles(u, vt, s, slot, exact_u, exact_vt, ranks, step, basis_h, basis_w, per_row, out):
    """What `quantize_tiles` then `tiles_to_plane` give, without holding the quantised vectors (encoder trials)."""
    th, tw = basis_h.shape[0], basis_w.shape[0]
    qu, qv = np.empty((1, th), np.int32), np.empty((1, tw), np.int32)
    uu, vv, acc = np.empty(th, np.float32), np.empty(tw, np.float32), np.empty((th, tw), np.float32)
    _render_factor_tiles(
        u, vt, s, slot, exact_u, exact_vt, ranks, step, basis_h, basis_w, per_row, out, qu, qv, uu, vv, acc
    )


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def _render_factor_tiles(
    u, vt, s, slot, exact_u, exact_vt, ranks, step, basis_h, basis_w, per_row, out, qu, qv, uu, vv, acc
):
    for t in range(ranks.size):
        acc[:, :] = 0.0
        for j in range(ranks[t]):
            if slot[t] >= 0:
                _quantize(exact_u, exact_vt, slot[t], j, s[t, j], step, qu[0], qv[0])
            else:
                _quantize(u, vt, t, j, s[t, j], step, qu[0], qv[0])
            _accumulate(qu, qv, 0, step, basis_h, basis_w, uu, vv, acc)
        _store_tile(acc, t, per_row, out)


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def squared_error(got, want):
    """Sum of squared differences of two uint8 2-D arrays of one shape (exact: integers in float64)."""
    total = 0
    for y in range(got.shape[0]):
        row = 0  # integer sums vectorise (and a row cannot overflow: 255^2 * 2^31 < 2^63)
        for x in range(got.shape[1]):
            d = np.int64(got[y, x]) - np.int64(want[y, x])
            row += d * d
        total += row
    return float(total)


@njit(cache=True, nogil=True)
def ycc420_to_rgb(luma, cb, cr, inverse, out):
    """Rows of RGB uint8 from full-resolution Y and half-resolution Cb, Cr (float32, centred), as
    `planes._from_ycc420` then rint and clip compute them (float32, same order; a luma coefficient of exactly 1
    multiplies exactly, so it matches numpy's add there). `inverse`: YCC_INVERSE as float32. Chroma terms are
    widened once per row pair and each channel is a contiguous pass, so the loops vectorise."""
    wide, value = np.empty((3, 2 * cb.shape[1]), np.float32), np.empty((3, out.shape[1]), np.float32)
    _ycc420_to_rgb(luma, cb, cr, inverse, out, wide, value)


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def _ycc420_to_rgb(luma, cb, cr, inverse, out, wide, value):
    height, width = out.shape[0], out.shape[1]
    flat = out.reshape(height, width * 3)  # out: C-contiguous rows of HxWx3
    half = np.float32(128.0)
    for y2 in range(cb.shape[0]):
        for c in range(3):
            m1, m2 = inverse[c, 1], inverse[c, 2]
            for x2 in range(cb.shape[1]):
                chroma = cb[y2, x2] * m1
                chroma += m2 * cr[y2, x2]
                chroma += half
                wide[c, 2 * x2] = chroma
                wide[c, 2 * x2 + 1] = chroma
        for y in range(2 * y2, min(2 * y2 + 2, height)):
            for c in range(3):
                m0 = inverse[c, 0]
                for x in range(width):
                    v = np.rint(luma[y, x] * m0 + wide[c, x])
                    value[c, x] = min(max(v, np.float32(0.0)), np.float32(255.0))
            row = flat[y]  # the flat row: storing through out[y, x, c] costs several times as much
            for x in range(width):
                row[3 * x] = np.uint8(value[0, x])
                row[3 * x + 1] = np.uint8(value[1, x])
                row[3 * x + 2] = np.uint8(value[2, x])


@njit(cache=True, nogil=True, inline="always")
def _mix(r, g, b, c0, c1, c2):
    """One YCbCr plane's value (centred float32) from a pixel's uint8 R, G, B: sum_c coefs[c] * (channel - 128), in
    this order. Every path from pixels to planes goes through it, so all of them give the same bits."""
    half = np.float32(128.0)
    return (np.float32(r) - half) * c0 + (np.float32(g) - half) * c1 + (np.float32(b) - half) * c2


@njit(cache=True, nogil=True, inline="always")
def _plane_value(pixels, y, x, c0, c1, c2):
    """`_mix` at pixel (y, x) of HxWxC uint8 pixels."""
    return _mix(pixels[y, x, 0], pixels[y, x, 1], pixels[y, x, 2], c0, c1, c2)


@njit(cache=True, nogil=True, inline="always")
def _deinterleave(pixels, y, r, g, b):
    """Image row y's first three channels (of C-contiguous HxWxC pixels, C >= 3) into three contiguous uint8 rows: a
    plain copy from the flat row (indexing pixels[y, x, c] instead costs 6x as much)."""
    width, depth = pixels.shape[1], pixels.shape[2]
    row = pixels.reshape(pixels.shape[0], width * depth)[y]
    if depth == 3:  # a constant stride: 8x faster than the general loop
        for x in range(width):
            r[x] = row[3 * x]
            g[x] = row[3 * x + 1]
            b[x] = row[3 * x + 2]
    else:
        for x in range(width):
            r[x] = row[depth * x]
            g[x] = row[depth * x + 1]
            b[x] = row[depth * x + 2]


@njit(cache=True, nogil=True, inline="always")
def _mix_row(r, g, b, c0, c1, c2, out):
    """out[x] = `_mix` of pixel x, from deinterleaved rows: on contiguous rows the loop vectorises (4x faster than
    per pixel from interleaved RGB)."""
    for x in range(out.size):
        out[x] = _mix(r[x], g[x], b[x], c0, c1, c2)


@njit(cache=True, nogil=True)
def rgb_to_plane_rows(pixels, start, stop, coefs, out):
    """Rows start..stop of one YCbCr plane (centred float32) from uint8 RGB (`_plane_value`)."""
    width = pixels.shape[1]
    _rgb_to_plane_rows(pixels, start, stop, coefs, out, np.empty((3, width), np.uint8))


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def _rgb_to_plane_rows(pixels, start, stop, coefs, out, channels):
    r, g, b = channels[0], channels[1], channels[2]
    for y in range(start, stop):
        _deinterleave(pixels, y, r, g, b)
        _mix_row(r, g, b, coefs[0], coefs[1], coefs[2], out[y - start])


@njit(cache=True, nogil=True)
def rgb_to_tiles(pixels, coefs, start, stop, th, tw, out):
    """Every tile of rows start..stop of one YCbCr plane, edge-padded, as `gather_rgb_tiles` gives them for all
    tiles in order (the same values), a plane row at a time: what the fast analysis cuts."""
    width = pixels.shape[1]
    row = np.empty(-(-width // tw) * tw, np.float32)
    _rgb_to_tiles(pixels, coefs, start, stop, th, tw, out, np.empty((3, width), np.uint8), row)


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def _rgb_to_tiles(pixels, coefs, start, stop, th, tw, out, channels, row):
    height, width = stop - start, pixels.shape[1]
    per_row = -(-width // tw)
    r, g, b = channels[0], channels[1], channels[2]
    for ty in range(-(-height // th)):
        for a in range(th):
            _deinterleave(pixels, start + min(ty * th + a, height - 1), r, g, b)
            _mix_row(r, g, b, coefs[0], coefs[1], coefs[2], row[:width])
            for x in range(width, row.size):
                row[x] = row[width - 1]
            if tw == 16:  # whole tile rows as vector copies (a view and a scalar loop per tile row cost 2x)
                for tx in range(per_row):
                    copy_floats16(row, tx * 16, out, ((ty * per_row + tx) * th + a) * 16)
                continue
            for tx in range(per_row):
                tile = out[ty * per_row + tx, a]
                for x in range(tw):
                    tile[x] = row[tx * tw + x]


@njit(cache=True, nogil=True, fastmath={"reassoc"}, **NO_REFCOUNTS)
def _replication_error(values, means, rows, width):
    """Squared error (float64) of replicating each 2x2 block mean over the first `rows` rows and `width` columns of
    `values` (2 rows of plane values; `means` per block). Only the sum is reassociated, so it vectorises: it feeds
    the rate control, not the planes."""
    total = 0.0
    pairs = width // 2
    for dy in range(rows):
        line = values[dy]
        for x2 in range(pairs):
            d0 = float(line[2 * x2] - means[x2])
            d1 = float(line[2 * x2 + 1] - means[x2])
            total += d0 * d0 + d1 * d1
        if width % 2:
            d = float(line[width - 1] - means[pairs])
            total += d * d
    return total


@njit(cache=True, nogil=True)
def rgb_to_chroma420(pixels, cb_coefs, cr_coefs, cb, cr, first, last, errors):
    """Rows first..last-1 of half-resolution Cb and Cr (2x2 box means; odd edges replicate the last row/column)
    straight from uint8 RGB, a pair of rows at a time (`_mix_row`: the values of `_plane_value`); errors[0, y2] and
    errors[1, y2] get the squared error of replicating row y2 of Cb and Cr back (`_replication_error`), for the
    caller to add in order (threads take row ranges; the sum is the same bits however they are cut)."""
    channels = np.empty((3, pixels.shape[1]), np.uint8)
    blue, red = np.empty((2, 2 * cb.shape[1]), np.float32), np.empty((2, 2 * cb.shape[1]), np.float32)
    _rgb_to_chroma420(pixels, cb_coefs, cr_coefs, cb, cr, first, last, errors, channels, blue, red)


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def _rgb_to_chroma420(pixels, cb_coefs, cr_coefs, cb, cr, first, last, errors, channels, blue, red):
    height, width = pixels.shape[0], pixels.shape[1]
    half_w = cb.shape[1]
    r, g, b = channels[0], channels[1], channels[2]
    quarter = np.float32(0.25)
    for y2 in range(first, last):
        for dy in range(2):
            _deinterleave(pixels, min(2 * y2 + dy, height - 1), r, g, b)
            _mix_row(r, g, b, cb_coefs[0], cb_coefs[1], cb_coefs[2], blue[dy, :width])
            _mix_row(r, g, b, cr_coefs[0], cr_coefs[1], cr_coefs[2], red[dy, :width])
            if width % 2:  # an odd width: the last column again
                blue[dy, width] = blue[dy, width - 1]
                red[dy, width] = red[dy, width - 1]
        out_b, out_r = cb[y2], cr[y2]
        for x2 in range(half_w):
            out_b[x2] = (blue[0, 2 * x2] + blue[0, 2 * x2 + 1] + blue[1, 2 * x2] + blue[1, 2 * x2 + 1]) * quarter
            out_r[x2] = (red[0, 2 * x2] + red[0, 2 * x2 + 1] + red[1, 2 * x2] + red[1, 2 * x2 + 1]) * quarter
        rows = min(2, height - 2 * y2)
        errors[0, y2] = _replication_error(blue, out_b, rows, width)
        errors[1, y2] = _replication_error(red, out_r, rows, width)


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def count_at_least(s, threshold, out):
    """out[t] = how many of row t's values are >= threshold (`(s >= threshold).sum(axis=1)`, ~8x as fast: numpy
    reduces a bool matrix along its short axis slowly, and a step's ranks are counted before every trial)."""
    for t in range(s.shape[0]):
        count = 0
        for j in range(s.shape[1]):
            count += s[t, j] >= threshold
        out[t] = count


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def ordered_sum(values):
    """values[0] + values[1] + ... in that order (numpy's sum pairs them: other bits)."""
    total = 0.0
    for value in values:
        total += value
    return total


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def gather_rgb_tiles(pixels, coefs, start, stop, th, tw, per_row, wanted, out):
    """`gather_tiles` over what `rgb_to_plane_rows(pixels, start, stop, coefs)` gives, computing only the pixels of
    the wanted tiles (the same arithmetic, so the same values): a refinement needs a few tiles of a band."""
    height, width = stop - start, pixels.shape[1]
    c0, c1, c2 = coefs[0], coefs[1], coefs[2]
    for n in range(wanted.size):
        t = wanted[n]
        y0, x0 = (t // per_row) * th, (t % per_row) * tw
        for a in range(th):
            y = start + min(y0 + a, height - 1)
            for b in range(tw):
                out[n, a, b] = _plane_value(pixels, y, min(x0 + b, width - 1), c0, c1, c2)


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def gather_tiles(rows, th, tw, per_row, wanted, out):
    """Tiles `wanted` (indices within these whole tile rows) of a plane's rows, edge-padded as `tiles.to_tiles`
    pads them: only the tiles a refinement needs, not the band's."""
    height, width = rows.shape
    for n in range(wanted.size):
        t = wanted[n]
        y0, x0 = (t // per_row) * th, (t % per_row) * tw
        for a in range(th):
            y = min(y0 + a, height - 1)
            for b in range(tw):
                out[n, a, b] = rows[y, min(x0 + b, width - 1)]
