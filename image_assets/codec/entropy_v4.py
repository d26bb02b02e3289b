"""Format v4's entropy stage: v3's context model (`entropy.py`) coded with adaptive rANS and 16-letter alphabets.

Why: v3's binary range coder spends ~3.5 serial decisions per coefficient (zero flag, sign, a unary exponent, raw
bits), and its decoder waits on a multiply and an unpredictable branch at each: ~13 ms of a 1080p decode. Here a
coefficient's magnitude (and a vector's length) is one letter of an adaptive 16-letter alphabet, and rANS finds a
letter by comparing the state's low 15 bits with the 16 cumulative counts at once (`lanes16`), no multiply or
branch before the comparison. The encoder runs the same adaptive model forwards, then codes each block backwards
(rANS is last in, first out).

A plane's stream: u32 (little-endian) length R, R bytes of v3's range-coded ranks (`entropy.encode_ranks`), then
one rANS block per `block_tiles` (whole rows of tiles, ~1,024 tiles) that keeps any triplet (a block of rank-0
tiles has no bytes).
In a block, for every kept triplet, tile after tile: its qu vector, then its qv vector. A vector codes the letter
min(L, 15) (L: one past its last nonzero coefficient; alphabet per side u/v and triplet bucket min(j, 3)); for a
15, L - 14 follows as an adaptive Exp-Golomb code (v3's LAST contexts). Then for k < L the letter min(|x|, 15)
(alphabet per side, triplet bucket, position bucket 0, 1, 2-3, 4-7, 8+ and min(|previous|, 2)); a 15 is followed
by |x| - 14 as Exp-Golomb (v3's EXP contexts); a nonzero x by its sign (v3's SIGN contexts).

Symbols: a letter s spans [c[s] + s, c[s + 1] + s + 1) of 2**15 (c: the alphabet's cumulative counts, c[0] = 0 <=
c[1] <= ... <= c[16] = T = 2**15 - 16, so every letter keeps a width of at least 1); an adaptive binary decision
with probability p/4096 of a 0 spans [0, p) or [p, 4096) of 2**12 (p as in v3: starts at 2048, moves 1/32 of the
way to each bit); the bits below an Exp-Golomb code's top bit are uniform chunks of at most 12 bits, high chunk
first. After a letter the counts move towards it: c[i] += (t - c[i]) >> a (t = T for i > s, 0 otherwise; >> rounds
down), a = 4 for an alphabet's first 32 letters, 5 up to 128, then 6. Alphabets start at fixed priors
(LENGTH_PRIOR, COEFFICIENT_PRIOR).

rANS: 32-bit states in [2**16, 2**32), two per block, taking turns (symbol i of a block on state i mod 2). A block
starts with both as u32s; decoding a symbol of width w at start b in 2**n from state x: slot = x mod 2**n,
x = w (x >> n) + slot - b, then if x < 2**16, x = x * 2**16 + the next u16 (little-endian; bytes past the stream
read as zero). A block ends with both states at 2**16 exactly (checked).

Decoding never reads past the stream, never writes past its arrays and reports impossible values (DECODE_BAD_*)
instead of raising.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np
from numba import njit

from image_assets.codec.compiled import NO_REFCOUNTS
from image_assets.codec.entropy import (
    ADAPT_SHIFT,
    DECODE_BAD_LAST,
    DECODE_OK,
    EXP_CTX,
    LAST_CTX,
    MAX_EXPONENT,
    PROB_BITS,
    SIGN_CTX,
    PlaneEncoder,
    bit_length,
    new_probabilities,
    position_bucket,
    vector_length,
)
from image_assets.codec.vector16 import N as LANES
from image_assets.codec.vector16 import count_at_or_below, load_int, move_towards, store_int

DECODE_BAD_VALUE, DECODE_BAD_STREAM = 3, 4
LETTERS = LANES  # 16: letter min(|x|, 15)
ESCAPE = LETTERS - 1
CDF_BITS = 15
CDF_TOTAL = (1 << CDF_BITS) - LETTERS
COUNT = LETTERS + 1  # column holding how many letters an alphabet has coded (column LETTERS holds CDF_TOTAL)
ROW = LETTERS + 2
RAW_CHUNK = 12
RANS_LOW = 1 << 16
BLOCK_TILES = 1024  # the encoder holds a block's symbols (4 bytes each); a block costs 8 bytes (its final states)
MAX_MAGNITUDE = (1 << 31) - 1
RANKS_PREFIX = struct.Struct("<I")

# Alphabets (rows of one table per plane).
LENGTH_ALPHABET = 0  # 2 sides x 4 triplet buckets
COEFFICIENT_ALPHABET = LENGTH_ALPHABET + 2 * 4  # 2 sides x 4 triplet buckets x 5 position buckets x 3 sizes
N_ALPHABETS = COEFFICIENT_ALPHABET + 2 * 4 * 5 * 3


def block_tiles(per_row: int) -> int:
    """Tiles in a rANS block: whole rows of tiles, about BLOCK_TILES of them (a narrow image's block is many rows,
    so small files pay few block states)."""
    return max(1, BLOCK_TILES // per_row) * per_row


# Where alphabets start (letter weights, from the bundled photos at 30-40 dB): small files code few letters per
# alphabet, and learning from uniform cost them ~2% of their bytes.
LENGTH_PRIOR = (1, 55, 27, 19, 21, 23, 25, 28, 32, 34, 42, 43, 56, 61, 90, 445)
COEFFICIENT_PRIOR = (293, 392, 138, 58, 30, 17, 11, 8, 6, 5, 4, 3, 2, 2, 2, 29)


def cumulative(weights: tuple[int, ...]) -> np.ndarray:
    """c[0..16] with c[16] = CDF_TOTAL, each letter's share of CDF_TOTAL in proportion to its weight."""
    total = np.concatenate([[0], np.cumsum(weights)])
    return (CDF_TOTAL * total) // total[-1]


def new_alphabets() -> np.ndarray:
    """Every alphabet at its prior, nothing coded yet."""
    return _initial_alphabets().copy()


@functools.cache
def _initial_alphabets() -> np.ndarray:
    """The priors' table, built once (read-only): ~0.2 ms a plane, a twentieth of a 1080p decode."""
    table = np.zeros((N_ALPHABETS, ROW), np.int32)
    table[LENGTH_ALPHABET:COEFFICIENT_ALPHABET, : LETTERS + 1] = cumulative(LENGTH_PRIOR)
    table[COEFFICIENT_ALPHABET:, : LETTERS + 1] = cumulative(COEFFICIENT_PRIOR)
    table.flags.writeable = False
    return table


@njit(cache=True, inline="always")
def adapt(cdf, ctx, s):
    n = load_int(cdf, ctx * ROW + COUNT)
    shift = 4 + (n > 31) + (n > 127)
    store_int(cdf, ctx * ROW + COUNT, min(n + 1, 128))
    move_towards(cdf, ctx * ROW, s, shift, CDF_TOTAL)


@njit(cache=True, inline="always")
def coefficient_alphabet(group, k, prev):
    return COEFFICIENT_ALPHABET + (group * 5 + position_bucket(k)) * 3 + min(prev, 2)


# --- encoding: the model forwards into records, then rANS backwards ----------------------------------------
# A record (uint32) is a symbol's place: a letter start | (width - 1) << 15 of 2**15; a binary decision
# BINARY | start | (width - 1) << 12 of 2**12; a raw chunk RAW | value | bits << 12 (width 1 of 2**bits).
BINARY, RAW = 1 << 30, 1 << 31


@njit(cache=True, inline="always")
def record_letter(records, n, cdf, ctx, s):
    start = load_int(cdf, ctx * ROW + s) + s
    records[n] = start | ((load_int(cdf, ctx * ROW + s + 1) + s - start) << CDF_BITS)
    adapt(cdf, ctx, s)
    return n + 1


@njit(cache=True, inline="always")
def record_bit(records, n, probs, ctx, bit):
    p = probs[ctx]
    if bit == 0:
        records[n] = BINARY | ((p - 1) << PROB_BITS)
        probs[ctx] = p + (((1 << PROB_BITS) - p) >> ADAPT_SHIFT)
    else:
        records[n] = BINARY | p | (((1 << PROB_BITS) - p - 1) << PROB_BITS)
        probs[ctx] = p - (p >> ADAPT_SHIFT)
    return n + 1


@njit(cache=True, inline="always")
def record_raw(records, n, value, nbits):
    while nbits > 0:
        chunk = min(nbits, RAW_CHUNK)
        nbits -= chunk
        records[n] = RAW | ((value >> nbits) & ((1 << chunk) - 1)) | (chunk << RAW_CHUNK)
        n += 1
    return n


@njit(cache=True, inline="always")
def record_exp(records, n, probs, ctx, value):
    """value >= 1: v3's adaptive Exp-Golomb code (unary bit length, one context per prefix bit, raw low bits)."""
    e = bit_length(value) - 1
    for i in range(e):
        n = record_bit(records, n, probs, ctx + min(i, 31), 1)
    if e < MAX_EXPONENT:
        n = record_bit(records, n, probs, ctx + min(e, 31), 0)
    return record_raw(records, n, value, e)


@njit(cache=True, inline="always")
def record_length(records, n, probs, cdf, group, last):
    """A vector's length L (v4 and v5): the letter min(L, 15), and for a 15 L - 14 as an Exp-Golomb code."""
    letter = min(last, ESCAPE)
    n = record_letter(records, n, cdf, LENGTH_ALPHABET + group, letter)
    if letter == ESCAPE:
        n = record_exp(records, n, probs, LAST_CTX + group * 32, last - ESCAPE + 1)
    return n


@njit(cache=True, inline="always")
def length_records(last):
    """How many records `record_length` makes."""
    return 1 + (escape_records(last - ESCAPE + 1) if last >= ESCAPE else 0)


@njit(cache=True, inline="always")
def _record_vector(records, n, probs, cdf, vec, side, jb):
    last = vector_length(vec)
    group = side * 4 + jb
    n = record_length(records, n, probs, cdf, group, last)
    prev = 0
    for k in range(last):
        x = vec[k]
        m = x if x >= 0 else -x
        letter = min(m, ESCAPE)
        n = record_letter(records, n, cdf, coefficient_alphabet(group, k, prev), letter)
        if letter == ESCAPE:
            n = record_exp(records, n, probs, EXP_CTX + (group * 5 + position_bucket(k)) * 32, m - ESCAPE + 1)
        if m:
            n = record_bit(records, n, probs, SIGN_CTX + side * 2 + (1 if k == 0 else 0), 1 if x < 0 else 0)
        prev = m
    return n


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def record_vectors(probs, cdf, ranks, qu, qv, records, n):
    """Append the records of the qu and qv rows of consecutive tiles to records[n:]; returns the new count."""
    row = 0
    for tile in range(ranks.size):
        for j in range(ranks[tile]):
            jb = min(j, 3)
            n = _record_vector(records, n, probs, cdf, qu[row], 0, jb)
            n = _record_vector(records, n, probs, cdf, qv[row], 1, jb)
            row += 1
    return n


@njit(cache=True, inline="always")
def escape_records(value):
    """Records of the Exp-Golomb code of value >= 1 (`record_exp`): e prefix decisions and a terminating one
    below MAX_EXPONENT, then ceil(e / 12) raw chunks, e being its bit length - 1."""
    e = bit_length(value) - 1
    return e + (1 if e < MAX_EXPONENT else 0) + (e + RAW_CHUNK - 1) // RAW_CHUNK


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def record_count(qu, qv):
    """How many records `record_vectors` makes of these rows: it depends on the values alone (per vector a length
    letter and its escape; per coefficient before the length a letter, its escape when |x| >= 15 and a sign when
    x != 0), so the records buffer is sized exactly."""
    total = 0
    for q in (qu, qv):
        for i in range(q.shape[0]):
            last = vector_length(q[i])
            total += length_records(last)
            for k in range(last):
                m = abs(np.int64(q[i, k]))
                total += 1 + (m != 0) + (escape_records(m - ESCAPE + 1) if m >= ESCAPE else 0)
    return total


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def rans_encode(records, out, states, first):
    """rANS-code `records` (a block's records `first`..`first + len - 1`) backwards into the end of `out`, on the
    block's two `states` (record i on state i mod 2), which carry on to the records before these; returns where
    the written bytes start in `out`. A record emits at most one u16, so `out` may be the records' own bytes
    (`records.view(uint8)`): after records len-1..i it holds at most 2 (len - i) bytes, which start at or after
    byte 2 len + 2 i >= 4 i, where record i - 1 ends: the output never reaches a record not yet read."""
    pos = out.size
    for i in range(records.size - 1, -1, -1):
        rec = np.int64(records[i])
        if rec & RAW:
            start, width, bits = rec & ((1 << RAW_CHUNK) - 1), 1, (rec >> RAW_CHUNK) & 0xF
        elif rec & BINARY:
            start, width, bits = rec & 0xFFF, ((rec >> PROB_BITS) & 0xFFF) + 1, PROB_BITS
        else:
            start, width, bits = rec & 0x7FFF, ((rec >> CDF_BITS) & 0x7FFF) + 1, CDF_BITS
        lane = (first + i) & 1
        x = states[lane]
        if x >= ((RANS_LOW >> bits) << 16) * width:
            pos -= 2
            out[pos] = x & 0xFF
            out[pos + 1] = (x >> 8) & 0xFF
            x >>= 16
        states[lane] = ((x // width) << bits) + (x % width) + start
    return pos


def encode_block(pieces: list[np.ndarray]) -> bytes:
    """A block's bytes from its records, which arrive as pieces (a band's each): the two final states, then each
    piece's output in order. Each piece is coded in place (`rans_encode`), last piece first, so a block costs its
    records once (no buffer grown by copying, no output buffer): on noise-like images a block's records are the
    write's largest allocation."""
    states = np.full(2, RANS_LOW, np.int64)
    firsts = np.cumsum([0] + [piece.size for piece in pieces])
    outputs = []
    for piece, first in zip(reversed(pieces), reversed(firsts[:-1].tolist()), strict=True):
        out = piece.view(np.uint8)
        outputs.append(out[rans_encode(piece, out, states, first) :].tobytes())
    head = int(states[0]).to_bytes(4, "little") + int(states[1]).to_bytes(4, "little")
    return b"".join([head, *reversed(outputs)])


class PlaneEncoderV4:
    """One plane's v4 stream, fed its tiles in order a band at a time: ranks coded up front, each block's records
    collected as the bands arrive and rANS-coded when the block is complete (memory: one block's records).
    Format v5 (`entropy_v5`) differs only in its model: its own alphabets and records."""

    version = 4
    new_alphabets = staticmethod(new_alphabets)
    record_count = staticmethod(record_count)
    record_vectors = staticmethod(record_vectors)

    def __init__(
        self, ranks: np.ndarray, per_row: int, limit: int, submit: Callable[..., Future] | None = None
    ) -> None:
        """`submit(encode_block, pieces)`, when given, codes each finished block elsewhere (a thread pool) while
        this stream models the next: the model is one chain per plane, its blocks' rANS passes are not."""
        ranks = np.ascontiguousarray(ranks, np.int64)
        ranks_stream = PlaneEncoder(ranks, per_row, limit).finish()  # v3's stream of the ranks alone
        self.chunks: list[bytes | Future] = [RANKS_PREFIX.pack(len(ranks_stream)), ranks_stream]
        self.submit = submit
        self.probs = new_probabilities()  # the vectors' model starts afresh, as the decoder's does
        self.alphabets = self.new_alphabets()
        self.block_tiles = block_tiles(per_row)
        self.tiles = ranks.size
        self.next_tile = 0
        self.pending: list[np.ndarray] = []  # the open block's records, a piece per band, each exactly sized

    def add(self, ranks: np.ndarray, qu: np.ndarray, qv: np.ndarray) -> None:
        ranks = np.ascontiguousarray(ranks, np.int64)
        qu = np.ascontiguousarray(qu, np.int32)
        qv = np.ascontiguousarray(qv, np.int32)
        first, row = 0, 0
        while first < ranks.size:
            block_end = (self.next_tile // self.block_tiles + 1) * self.block_tiles
            last = min(ranks.size, first + block_end - self.next_tile)
            rows = int(ranks[first:last].sum())
            part_u, part_v = qu[row : row + rows], qv[row : row + rows]
            records = np.empty(self.record_count(part_u, part_v), np.uint32)  # exact: the writer has no bounds checks
            self.record_vectors(self.probs, self.alphabets, ranks[first:last], part_u, part_v, records, 0)
            if records.size:
                self.pending.append(records)
            self.next_tile += last - first
            first, row = last, row + rows
            if self.next_tile % self.block_tiles == 0 or self.next_tile == self.tiles:
                if self.pending:
                    pieces = self.pending
                    self.chunks.append(self.submit(encode_block, pieces) if self.submit else encode_block(pieces))
                self.pending = []

    def finish(self) -> bytes:
        return b"".join(self.finish_chunks())

    def finish_chunks(self) -> list[bytes]:
        """The plane's stream as the pieces it was coded in (the file joins every plane's at once: one copy)."""
        if self.next_tile != self.tiles:
            raise ValueError(f"a v{self.version} plane finished before every tile was added")
        chunks, self.chunks = self.chunks, []
        return [chunk.result() if isinstance(chunk, Future) else chunk for chunk in chunks]


# --- decoding -----------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def refill(x, data, pos):
    """Branch-free: `data` is the stream and two zero bytes, so reading at min(pos, stream end) is always in
    bounds and past the stream reads zeros."""
    small = x < RANS_LOW
    at = min(pos, data.size - 2)
    word = load_int(data, at) | (load_int(data, at + 1) << 8)
    x = ((x << 16) | word) if small else x
    return x, pos + 2 * small


@njit(cache=True, inline="always")
def get_letter(x, y, data, pos, cdf, ctx):
    """Decode a letter on state x; returns (y, new x, pos, letter): the states take turns."""
    slot = x & ((1 << CDF_BITS) - 1)
    s = count_at_or_below(cdf, ctx * ROW, slot, 1) - 1  # c[0] + 0 = 0 <= slot: at least one
    start = load_int(cdf, ctx * ROW + s) + s
    x = (load_int(cdf, ctx * ROW + s + 1) + s + 1 - start) * (x >> CDF_BITS) + slot - start
    adapt(cdf, ctx, s)
    x, pos = refill(x, data, pos)
    return y, x, pos, s


@njit(cache=True, inline="always")
def get_bit_if(x, y, data, pos, probs, ctx, wanted):
    """An adaptive binary decision on state x, decoded only where `wanted` (else nothing moves, the states keep
    their turn and 0 is returned), without a branch on either: signs are coin flips a branch would mispredict."""
    p = load_int(probs, ctx)
    slot = x & ((1 << PROB_BITS) - 1)
    bit = slot >= p
    start = p if bit else 0
    width = ((1 << PROB_BITS) - p) if bit else p
    moved = (p - (p >> ADAPT_SHIFT)) if bit else (p + (((1 << PROB_BITS) - p) >> ADAPT_SHIFT))
    decoded, pos = refill(width * (x >> PROB_BITS) + slot - start, data, pos) if wanted else (x, pos)
    store_int(probs, ctx, moved if wanted else p)
    return (y if wanted else x), (decoded if wanted else y), pos, bit & wanted


@njit(cache=True, inline="always")
def get_bit(x, y, data, pos, probs, ctx):
    return get_bit_if(x, y, data, pos, probs, ctx, True)


@njit(cache=True, inline="always")
def get_raw(x, y, data, pos, nbits):
    value = 0
    while nbits > 0:
        chunk = min(nbits, RAW_CHUNK)
        nbits -= chunk
        value = (value << chunk) | (x & ((1 << chunk) - 1))
        decoded, pos = refill(x >> chunk, data, pos)
        x, y = y, decoded
    return x, y, pos, value


@njit(cache=True, inline="always")
def get_exp(x, y, data, pos, probs, ctx):
    e = 0
    while e < MAX_EXPONENT:
        x, y, pos, bit = get_bit(x, y, data, pos, probs, ctx + min(e, 31))
        if bit == 0:
            break
        e += 1
    x, y, pos, low_bits = get_raw(x, y, data, pos, e)
    return x, y, pos, (1 << e) | low_bits


@njit(cache=True, inline="always")
def get_length(x, y, data, pos, probs, cdf, group):
    """What `record_length` wrote: (x, y, pos, L)."""
    x, y, pos, last = get_letter(x, y, data, pos, cdf, LENGTH_ALPHABET + group)
    if last == ESCAPE:
        x, y, pos, extra = get_exp(x, y, data, pos, probs, LAST_CTX + group * 32)
        last = extra + ESCAPE - 1
    return x, y, pos, last


@njit(cache=True, inline="always")
def _get_vector(x, y, data, pos, probs, cdf, vec, side, jb):
    n = vec.size
    group = side * 4 + jb
    x, y, pos, last = get_length(x, y, data, pos, probs, cdf, group)
    if last > n:
        return x, y, pos, DECODE_BAD_LAST
    for k in range(n):
        vec[k] = 0
    prev = 0
    for k in range(last):
        x, y, pos, m = get_letter(x, y, data, pos, cdf, coefficient_alphabet(group, k, prev))
        if m == ESCAPE:
            x, y, pos, extra = get_exp(x, y, data, pos, probs, EXP_CTX + (group * 5 + position_bucket(k)) * 32)
            if extra > MAX_MAGNITUDE - ESCAPE + 1:
                return x, y, pos, DECODE_BAD_VALUE
            m = extra + ESCAPE - 1
        sign_ctx = SIGN_CTX + side * 2 + (1 if k == 0 else 0)
        x, y, pos, negative = get_bit_if(x, y, data, pos, probs, sign_ctx, m != 0)
        vec[k] = -m if negative else m
        prev = m
    return x, y, pos, DECODE_OK


@njit(cache=True, inline="always")
def read_u32(data, pos):
    x = 0
    for i in range(4):
        x |= np.int64(data[pos + i] if pos + i < data.size - 2 else 0) << (8 * i)
    return x


@njit(cache=True, nogil=True, **NO_REFCOUNTS)
def decode_plane_vectors(data, probs, cdf, cursor, all_ranks, first, last, block_tiles, qu, qv):
    """Fill qu and qv (rows tile-major) for tiles first..last-1 of the plane, resuming from `cursor` (the two
    states, pos) (`all_ranks`: every tile's rank; `data`: the plane's stream followed by two zero bytes). Returns a
    DECODE_* code."""
    x, y, pos = cursor[0], cursor[1], cursor[2]
    row = 0
    for tile in range(first, last):
        if tile % block_tiles == 0:
            if all_ranks[tile : tile + block_tiles].sum() > 0:
                x, y, pos = read_u32(data, pos), read_u32(data, pos + 4), pos + 8
            else:
                x, y = RANS_LOW, RANS_LOW
        for j in range(all_ranks[tile]):
            jb = min(j, 3)
            x, y, pos, status = _get_vector(x, y, data, pos, probs, cdf, qu[row], 0, jb)
            if status != DECODE_OK:
                return status
            x, y, pos, status = _get_vector(x, y, data, pos, probs, cdf, qv[row], 1, jb)
            if status != DECODE_OK:
                return status
            row += 1
        block_end = (tile + 1) % block_tiles == 0 or tile + 1 == all_ranks.size
        if block_end and (x != RANS_LOW or y != RANS_LOW):
            return DECODE_BAD_STREAM
    cursor[0], cursor[1], cursor[2] = x, y, pos
    return DECODE_OK


def split_stream(stream: np.ndarray) -> tuple[np.ndarray, int] | None:
    """(the ranks' range-coded bytes, where the rANS blocks start), or None if the length prefix is impossible."""
    if stream.size < RANKS_PREFIX.size:
        return None
    (length,) = RANKS_PREFIX.unpack(stream[: RANKS_PREFIX.size].tobytes())
    end = RANKS_PREFIX.size + length
    if end > stream.size:
        return None
    return stream[RANKS_PREFIX.size : end], end
