"""Format v3's range coder and context model: exact round trips whatever the data or the chunking, and a decoder
that survives any stream."""

import numpy as np
import pytest

from image_assets.codec import entropy


def _decode(data: bytes, count: int, per_row: int, limit: int, widths: tuple[int, int]):
    stream = np.frombuffer(data, np.uint8)
    ranks, cursor = np.zeros(count, np.int64), np.zeros(3, np.int64)
    probs = entropy.decode_plane_ranks(stream, count, per_row, limit, ranks, cursor)
    rows = int(ranks.sum())
    qu, qv = np.zeros((rows, widths[0]), np.int32), np.zeros((rows, widths[1]), np.int32)
    return ranks, qu, qv, entropy.decode_plane_vectors(stream, probs, cursor, ranks, qu, qv)


def _encode(ranks, qu, qv, per_row, limit, chunk_tiles):
    return encode_in_chunks(entropy.PlaneEncoder(ranks, per_row, limit), ranks, qu, qv, chunk_tiles)


def encode_in_chunks(encoder, ranks, qu, qv, chunk_tiles):
    """Feed a plane encoder (v3's or v4's) its tiles `chunk_tiles` at a time, as the encoder's bands do."""
    row = 0
    for first in range(0, ranks.size, chunk_tiles):
        band = ranks[first : first + chunk_tiles]
        rows = int(band.sum())
        encoder.add(band, qu[row : row + rows], qv[row : row + rows])
        row += rows
    return encoder.finish()


@pytest.mark.parametrize("chunk_tiles", [1, 7, 10_000])
def test_round_trip_any_chunking(chunk_tiles):
    rng = np.random.default_rng(chunk_tiles)
    count, per_row = 3000, 40
    ranks = rng.integers(0, 6, count)
    rows = int(ranks.sum())
    decay = np.exp(-np.arange(16) / 3.0)
    qu = np.rint(rng.laplace(0, 4, (rows, 16)) * decay).astype(np.int32)
    qv = np.rint(rng.laplace(0, 4, (rows, 12)) * decay[:12]).astype(np.int32)
    qu[::5, 0] = rng.integers(-(1 << 30), 1 << 30, qu[::5, 0].shape)  # extreme magnitudes too
    data = _encode(ranks, qu, qv, per_row, 12, chunk_tiles)
    got_ranks, got_u, got_v, status = _decode(data, count, per_row, 12, (16, 12))
    assert status == entropy.DECODE_OK
    assert np.array_equal(got_ranks, ranks) and np.array_equal(got_u, qu) and np.array_equal(got_v, qv)
    assert len(data) < qu.nbytes / 4  # it compresses: int32 coefficients to well under a byte each


def test_predictable_data_in_tiny_chunks():
    """All-zero vectors cost a fraction of a bit each, so the coder holds back long runs of bytes between chunks:
    every chunk's buffer must have room for them (this overflowed the heap before)."""
    count = 20_000
    ranks = np.full(count, 16, np.int64)
    zeros = np.zeros((count * 16, 16), np.int32)
    data = _encode(ranks, zeros, zeros, 100, 16, 1)
    got_ranks, got_u, _got_v, status = _decode(data, count, 100, 16, (16, 16))
    assert status == entropy.DECODE_OK and np.array_equal(got_ranks, ranks) and not got_u.any()
    assert len(data) < 2000
    # Ranks alone (identical ones: each "rank > i" costs a hundredth of a bit): the coder ends holding back ~1,500
    # bytes, which `finish` must have room for; missing vector bytes then decode as empty vectors.
    ranks_only = entropy.PlaneEncoder(np.full(65536, 16, np.int64), 256, 16).finish()
    got_ranks, got_u, _got_v, status = _decode(ranks_only, 65536, 256, 16, (16, 16))
    assert status == entropy.DECODE_OK and (got_ranks == 16).all() and not got_u.any()


def test_decoder_survives_any_stream():
    rng = np.random.default_rng(0)
    outcomes = set()
    for size in (0, 1, 5, 64, 4096):
        for _ in range(20):
            data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            ranks, _qu, _qv, status = _decode(data, 200, 20, 16, (16, 16))
            assert ranks.max(initial=0) <= 16 and status in (entropy.DECODE_OK, entropy.DECODE_BAD_LAST)
            outcomes.add(status)
    assert outcomes == {entropy.DECODE_OK, entropy.DECODE_BAD_LAST}
