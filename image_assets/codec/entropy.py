"""Format v3's entropy stage: an adaptive binary range coder (LZMA's, 12-bit probabilities) with a context model
for ranks and quantised singular vectors, compiled with numba. Format v4 (`entropy_v4.py`) keeps its rank coding
and its binary contexts, and codes the vectors with rANS and adaptive alphabets.

Why not zstd: the coefficients are small integers whose statistics depend on where they sit (which triplet of
the tile, which DCT frequency of the vector, how large the previous coefficient was); an LZ coder sees only
bytes. Each plane is one stream with its own probabilities (planes can be decoded independently).

A plane's stream holds, in order:
  1. the rank of every tile, row-major: bits "rank > i" for i = 0, 1, ..., with the context (i, how i compares
     with the mean rank of the tiles left of and above it);
  2. for every kept triplet, tile after tile: its qu vector, then its qv vector. A vector codes L, the position
     after its last nonzero coefficient (adaptive Exp-Golomb), then for k < L a zero flag (context: vector
     side, triplet index, position, size of the previous coefficient; the coefficient at L-1 is known to be
     nonzero), a sign bit and the magnitude (adaptive Exp-Golomb prefix, raw mantissa bits).

Decoding never reads past the stream (missing bytes read as zero), never writes past the arrays it was given,
and reports impossible values (L beyond the vector, a rank above the tile's limit) instead of raising, so a
hostile file costs at most the work its declared geometry allows (checked by the container first).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from image_assets.codec.compiled import NO_REFCOUNTS

PROB_BITS = 12
PROB_INIT = 1 << (PROB_BITS - 1)
ADAPT_SHIFT = 5
TOP = 1 << 24
MASK32 = (1 << 32) - 1
MAX_EXPONENT = 30  # magnitudes below 2**31 (int32)

# Context table layout (offsets into one int32 probability array per plane).
RANK_CTX = 0  # 16 positions x 5 comparisons
LAST_CTX = RANK_CTX + 16 * 5  # 2 sides x 4 triplet buckets x 32 prefix bits
ZERO_CTX = LAST_CTX + 2 * 4 * 32  # 2 sides x 4 triplet buckets x 16 positions x 3 neighbour sizes
SIGN_CTX = ZERO_CTX + 2 * 4 * 16 * 3  # 2 sides x 2 (first position or not)
EXP_CTX = SIGN_CTX + 2 * 2  # 2 sides x 4 triplet buckets x 5 position buckets x 32 prefix bits
N_CTX = EXP_CTX + 2 * 4 * 5 * 32

DECODE_OK, DECODE_BAD_RANK, DECODE_BAD_LAST = 0, 1, 2


def new_probabilities() -> np.ndarray:
    return np.full(N_CTX, PROB_INIT, np.int32)


def new_state() -> np.ndarray:
    """Encoder state: low, range, cache byte, pending byte count (LZMA's initial values)."""
    return np.array([0, MASK32, 0, 1], np.int64)


# --- range coder primitives (state passed and returned as scalars so LLVM keeps them in registers) ---------


@njit(cache=True, inline="always")
def _shift_low(low, cache, pending, out, pos):
    if low < 0xFF000000 or low > MASK32:
        carry = low >> 32
        temp = cache
        while True:
            if pos < out.size:  # never past the buffer: the caller checks the count instead
                out[pos] = (temp + carry) & 0xFF
            pos += 1
            temp = 0xFF
            pending -= 1
            if pending == 0:
                break
        cache = (low >> 24) & 0xFF
    pending += 1
    low = (low & 0x00FFFFFF) << 8
    return low, cache, pending, pos


@njit(cache=True, inline="always")
def _put(low, rng, cache, pending, out, pos, probs, ctx, bit):
    p = probs[ctx]
    bound = (rng >> PROB_BITS) * p
    if bit == 0:
        rng = bound
        probs[ctx] = p + (((1 << PROB_BITS) - p) >> ADAPT_SHIFT)
    else:
        low += bound
        rng -= bound
        probs[ctx] = p - (p >> ADAPT_SHIFT)
    while rng < TOP:
        rng = (rng << 8) & MASK32
        low, cache, pending, pos = _shift_low(low, cache, pending, out, pos)
    return low, rng, cache, pending, pos


@njit(cache=True, inline="always")
def _put_raw(low, rng, cache, pending, out, pos, value, nbits):
    for i in range(nbits - 1, -1, -1):
        rng >>= 1
        if (value >> i) & 1:
            low += rng
        while rng < TOP:
            rng = (rng << 8) & MASK32
            low, cache, pending, pos = _shift_low(low, cache, pending, out, pos)
    return low, rng, cache, pending, pos


@njit(cache=True, inline="always")
def bit_length(value):
    """How many bits `value` >= 0 takes (0 for 0): what the Exp-Golomb codes and magnitude classes count."""
    length = 0
    while (value >> length) > 0:
        length += 1
    return length


@njit(cache=True, inline="always")
def _put_exp(low, rng, cache, pending, out, pos, probs, ctx, value):
    """value >= 1: unary bit length (adaptive, one context per prefix bit), then the bits below the top one."""
    e = bit_length(value) - 1
    for i in range(e):
        low, rng, cache, pending, pos = _put(low, rng, cache, pending, out, pos, probs, ctx + min(i, 31), 1)
    if e < MAX_EXPONENT:
        low, rng, cache, pending, pos = _put(low, rng, cache, pending, out, pos, probs, ctx + min(e, 31), 0)
    return _put_raw(low, rng, cache, pending, out, pos, value, e)


@njit(cache=True, inline="always")
def _refill(code, rng, data, pos):
    """Decoder normalisation: shift in stream bytes (zeros past its end) while the range is below TOP."""
    while rng < TOP:
        rng = (rng << 8) & MASK32
        byte = data[pos] if pos < data.size else 0
        code = ((code << 8) | byte) & MASK32
        pos += 1
    return code, rng, pos


@njit(cache=True, inline="always")
def _get(code, rng, data, pos, probs, ctx):
    p = probs[ctx]
    bound = (rng >> PROB_BITS) * p
    if code < bound:
        rng = bound
        probs[ctx] = p + (((1 << PROB_BITS) - p) >> ADAPT_SHIFT)
        bit = 0
    else:
        code -= bound
        rng -= bound
        probs[ctx] = p - (p >> ADAPT_SHIFT)
        bit = 1
    code, rng, pos = _refill(code, rng, data, pos)
    return code, rng, pos, bit


@njit(cache=True, inline="always")
def _get_raw(code, rng, data, pos, nbits):
    value = 0
    for _ in range(nbits):
        rng >>= 1
        bit = 1 if code >= rng else 0
        code = code - rng if bit else code
        value = (value << 1) | bit
        code, rng, pos = _refill(code, rng, data, pos)
    return code, rng, pos, value


@njit(cache=True, inline="always")
def _get_exp(code, rng, data, pos, probs, ctx):
    e = 0
    while e < MAX_EXPONENT:
        code, rng, pos, bit = _get(code, rng, data, pos, probs, ctx + min(e, 31))
        if bit == 0:
            break
        e += 1
    code, rng, pos, low_bits = _get_raw(code, rng, data, pos, e)
    return code, rng, pos, (1 << e) | low_bits


# --- model ------------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _rank_compare(ranks, tile, per_row, i):
    """Bucket 0..4 of how i compares with the mean rank of the left and upper neighbours (0 with neither)."""
    total, count = 0, 0
    if tile % per_row != 0:
        total += ranks[tile - 1]
        count += 1
    if tile >= per_row:
        total += ranks[tile - per_row]
        count += 1
    predicted = (total + count // 2) // count if count else 0
    return min(max(i - predicted + 2, 0), 4)


@njit(cache=True, inline="always")
def position_bucket(k):
    """0, 1, 2-3, 4-7, 8+ -> 0..4 (compares added, no branches: a decoder's next context waits on it)."""
    return (k > 0) + (k > 1) + (k > 3) + (k > 7)


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def encode_ranks(state, probs, ranks, per_row, limit, out):
    """Code every tile's rank (at most `limit`); returns bytes written to `out`."""
    low, rng, cache, pending = state[0], state[1], state[2], state[3]
    pos = 0
    for tile in range(ranks.size):
        r = ranks[tile]
        for i in range(limit):
            ctx = RANK_CTX + min(i, 15) * 5 + _rank_compare(ranks, tile, per_row, i)
            bit = 1 if r > i else 0
            low, rng, cache, pending, pos = _put(low, rng, cache, pending, out, pos, probs, ctx, bit)
            if bit == 0:
                break
    state[0], state[1], state[2], state[3] = low, rng, cache, pending
    return pos


@njit(cache=True, inline="always")
def vector_length(vec):
    """One past the last nonzero coefficient of `vec` (0 for a zero vector): the length a stream codes."""
    last = 0
    for k in range(vec.size):
        if vec[k] != 0:
            last = k + 1
    return last


@njit(cache=True, inline="always")
def _put_vector(low, rng, cache, pending, out, pos, probs, vec, side, jb):
    last = vector_length(vec)
    low, rng, cache, pending, pos = _put_exp(
        low, rng, cache, pending, out, pos, probs, LAST_CTX + (side * 4 + jb) * 32, last + 1
    )
    prev = 0
    for k in range(last):
        x = vec[k]
        m = x if x >= 0 else -x
        if k < last - 1:
            ctx = ZERO_CTX + ((side * 4 + jb) * 16 + min(k, 15)) * 3 + min(prev, 2)
            low, rng, cache, pending, pos = _put(low, rng, cache, pending, out, pos, probs, ctx, 1 if m else 0)
        if m:
            sctx = SIGN_CTX + side * 2 + (1 if k == 0 else 0)
            low, rng, cache, pending, pos = _put(low, rng, cache, pending, out, pos, probs, sctx, 1 if x < 0 else 0)
            ectx = EXP_CTX + ((side * 4 + jb) * 5 + position_bucket(k)) * 32
            low, rng, cache, pending, pos = _put_exp(low, rng, cache, pending, out, pos, probs, ectx, m)
        prev = m
    return low, rng, cache, pending, pos


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def encode_vectors(state, probs, ranks, qu, qv, out):
    """Code the qu and qv rows of consecutive tiles (`ranks` of those tiles, rows tile-major)."""
    low, rng, cache, pending = state[0], state[1], state[2], state[3]
    pos = 0
    row = 0
    for tile in range(ranks.size):
        for j in range(ranks[tile]):
            jb = min(j, 3)
            low, rng, cache, pending, pos = _put_vector(low, rng, cache, pending, out, pos, probs, qu[row], 0, jb)
            low, rng, cache, pending, pos = _put_vector(low, rng, cache, pending, out, pos, probs, qv[row], 1, jb)
            row += 1
    state[0], state[1], state[2], state[3] = low, rng, cache, pending
    return pos


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def flush(state, out):
    low, rng, cache, pending = state[0], state[1], state[2], state[3]
    pos = 0
    for _ in range(5):
        low, cache, pending, pos = _shift_low(low, cache, pending, out, pos)
    state[0], state[1], state[2], state[3] = low, rng, cache, pending
    return pos


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def vector_bound(qu, qv):
    """Bytes the coded rows can take at most: each binary decision costs under 8 bits (probabilities stay
    above 31/4096), and a vector makes at most 3 + 2 * bit length decisions per coefficient plus its L."""
    total = 16
    for q in (qu, qv):
        for i in range(q.shape[0]):
            total += 2 * 6 + 2
            for k in range(q.shape[1]):
                x = q[i, k]
                m = x if x >= 0 else -x
                e = 0
                while (m >> e) > 0:
                    e += 1
                total += 3 + 2 * e
    return total


class PlaneEncoder:
    """One plane's stream, fed its tiles in order a band at a time (the encoder quantises band by band)."""

    def __init__(self, ranks: np.ndarray, per_row: int, limit: int) -> None:
        self.state = new_state()
        self.probs = new_probabilities()
        self.chunks: list[bytes] = []
        ranks = np.ascontiguousarray(ranks, np.int64)
        out = self._buffer(16 + ranks.size * (limit + 1))
        self._keep(out, encode_ranks(self.state, self.probs, ranks, per_row, limit, out))

    def _buffer(self, size: int) -> np.ndarray:
        """Room for `size` bytes of new output plus the bytes the coder still holds back (a carry may release a
        run of them into this chunk)."""
        return np.empty(size + int(self.state[3]) + 8, np.uint8)

    def _keep(self, out: np.ndarray, size: int) -> None:
        if size > out.size:
            raise RuntimeError(f"range coder output overflowed its buffer ({size} > {out.size} bytes)")
        self.chunks.append(out[:size].tobytes())

    def add(self, ranks: np.ndarray, qu: np.ndarray, qv: np.ndarray) -> None:
        qu = np.ascontiguousarray(qu, np.int32)
        qv = np.ascontiguousarray(qv, np.int32)
        out = self._buffer(vector_bound(qu, qv))
        self._keep(out, encode_vectors(self.state, self.probs, np.ascontiguousarray(ranks, np.int64), qu, qv, out))

    def finish(self) -> bytes:
        out = self._buffer(16)
        self._keep(out, flush(self.state, out))
        data = b"".join(self.chunks)
        self.chunks = []
        return data


# --- decoding -----------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def _start(data):
    code = 0
    for i in range(5):
        code = ((code << 8) | (data[i] if i < data.size else 0)) & MASK32
    return code, MASK32, 5


@njit(cache=True, nogil=True)
def decode_plane_ranks(data, count, per_row, limit, ranks, cursor):
    """Fill `ranks` (count tiles); `cursor` gets the coder state to resume from. Returns the probabilities the
    vectors' decoding carries on with."""
    probs = np.full(N_CTX, PROB_INIT, np.int32)
    _decode_ranks(data, count, per_row, limit, ranks, cursor, probs)
    return probs


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def _decode_ranks(data, count, per_row, limit, ranks, cursor, probs):
    code, rng, pos = _start(data)
    for tile in range(count):
        r = 0
        for i in range(limit):
            ctx = RANK_CTX + min(i, 15) * 5 + _rank_compare(ranks, tile, per_row, i)
            code, rng, pos, bit = _get(code, rng, data, pos, probs, ctx)
            if bit == 0:
                break
            r += 1
        ranks[tile] = r
    cursor[0], cursor[1], cursor[2] = code, rng, pos


@njit(cache=True, inline="always")
def _get_vector(code, rng, data, pos, probs, vec, side, jb):
    n = vec.size
    code, rng, pos, last = _get_exp(code, rng, data, pos, probs, LAST_CTX + (side * 4 + jb) * 32)
    last -= 1
    if last > n:
        return code, rng, pos, False
    prev = 0
    for k in range(n):
        vec[k] = 0
    for k in range(last):
        nonzero = 1
        if k < last - 1:
            ctx = ZERO_CTX + ((side * 4 + jb) * 16 + min(k, 15)) * 3 + min(prev, 2)
            code, rng, pos, nonzero = _get(code, rng, data, pos, probs, ctx)
        m = 0
        if nonzero:
            sctx = SIGN_CTX + side * 2 + (1 if k == 0 else 0)
            code, rng, pos, negative = _get(code, rng, data, pos, probs, sctx)
            ectx = EXP_CTX + ((side * 4 + jb) * 5 + position_bucket(k)) * 32
            code, rng, pos, m = _get_exp(code, rng, data, pos, probs, ectx)
            vec[k] = -m if negative else m
        prev = m
    return code, rng, pos, True


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def decode_plane_vectors(data, probs, cursor, ranks, qu, qv):
    """Fill qu and qv (rows tile-major) after `decode_plane_ranks`. Returns a DECODE_* code."""
    code, rng, pos = cursor[0], cursor[1], cursor[2]
    row = 0
    for tile in range(ranks.size):
        for j in range(ranks[tile]):
            jb = min(j, 3)
            code, rng, pos, ok = _get_vector(code, rng, data, pos, probs, qu[row], 0, jb)
            if not ok:
                return DECODE_BAD_LAST
            code, rng, pos, ok = _get_vector(code, rng, data, pos, probs, qv[row], 1, jb)
            if not ok:
                return DECODE_BAD_LAST
            row += 1
    cursor[0], cursor[1], cursor[2] = code, rng, pos
    return DECODE_OK
