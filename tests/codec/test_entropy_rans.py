"""Formats v4 and v5's entropy stage (ranks range-coded, vectors in rANS blocks with adaptive 16-letter alphabets:
v4's letters magnitudes, v5's signed values): exact round trips whatever the data, the chunking or the block
boundaries, and a decoder that survives any stream and notices a block that does not end where its encoder left
it. Each test runs on both versions (`coder`)."""

import numpy as np
import pytest

from image_assets.codec import entropy, entropy_v4, entropy_v5
from tests.codec.test_entropy import encode_in_chunks

ENCODERS = {entropy_v4: entropy_v4.PlaneEncoderV4, entropy_v5: entropy_v5.PlaneEncoderV5}


@pytest.fixture(params=[entropy_v4, entropy_v5], ids=["v4", "v5"])
def coder(request):
    """The version under test (its module)."""
    return request.param


def _encode(coder, ranks, qu, qv, per_row, limit, chunk_tiles):
    return encode_in_chunks(ENCODERS[coder](ranks, per_row, limit), ranks, qu, qv, chunk_tiles)


def _decode(coder, data: bytes, count, per_row, limit, widths, chunk_tiles):
    """Decode band after band as the renderer does; returns (ranks, qu, qv, first non-OK status or OK)."""
    raw = np.frombuffer(data, np.uint8)
    ranks = np.zeros(count, np.int64)
    parts = entropy_v4.split_stream(raw)
    if parts is None:
        return ranks, None, None, "no ranks"
    entropy.decode_plane_ranks(parts[0], count, per_row, limit, ranks, np.zeros(3, np.int64))
    padded = np.concatenate([raw, np.zeros(2, np.uint8)])
    cursor = np.array([entropy_v4.RANS_LOW, entropy_v4.RANS_LOW, parts[1]], np.int64)
    probs, alphabets = entropy.new_probabilities(), coder.new_alphabets()
    rows = int(ranks.sum())
    qu, qv = np.zeros((rows, widths[0]), np.int32), np.zeros((rows, widths[1]), np.int32)
    row = 0
    block_tiles = entropy_v4.block_tiles(per_row)
    for first in range(0, count, chunk_tiles):
        last = min(first + chunk_tiles, count)
        n = int(ranks[first:last].sum())
        status = coder.decode_plane_vectors(
            padded, probs, alphabets, cursor, ranks, first, last, block_tiles, qu[row : row + n], qv[row : row + n]
        )
        if status != entropy.DECODE_OK:
            return ranks, qu, qv, status
        row += n
    return ranks, qu, qv, entropy.DECODE_OK


def _data(seed, count, widths):
    rng = np.random.default_rng(seed)
    ranks = rng.integers(0, 6, count)
    ranks[200:700] = 0  # whole blocks without a triplet
    rows = int(ranks.sum())
    decay = np.exp(-np.arange(max(widths)) / 3.0)
    qu = np.rint(rng.laplace(0, 6, (rows, widths[0])) * decay[: widths[0]]).astype(np.int32)
    qv = np.rint(rng.laplace(0, 6, (rows, widths[1])) * decay[: widths[1]]).astype(np.int32)
    qu[::5, 0] = rng.integers(-(2**31) + 1, 2**31, qu[::5, 0].shape)  # the extremes a stream can carry
    qv[::7, -1] = rng.integers(-40, 40, qv[::7, -1].shape)  # full-length vectors (the length escape)
    return ranks, qu, qv


@pytest.mark.parametrize(("encode_chunk", "decode_chunk"), [(1, 7), (7, 1000), (10_000, 37)])
def test_round_trip_any_chunking(coder, encode_chunk, decode_chunk):
    count, per_row, widths = 3000, 40, (16, 12)
    ranks, qu, qv = _data(encode_chunk, count, widths)
    data = _encode(coder, ranks, qu, qv, per_row, 12, encode_chunk)
    got_ranks, got_u, got_v, status = _decode(coder, data, count, per_row, 12, widths, decode_chunk)
    assert status == entropy.DECODE_OK
    assert np.array_equal(got_ranks, ranks) and np.array_equal(got_u, qu) and np.array_equal(got_v, qv)
    assert len(data) < qu.nbytes / 4  # it compresses: int32 coefficients to well under a byte each


def test_long_vectors_of_whole_plane_layouts(coder):
    """One tile the size of the plane: vectors of hundreds of coefficients, lengths far past the length escape."""
    rng = np.random.default_rng(3)
    ranks = np.array([30])
    qu = np.rint(rng.laplace(0, 3, (30, 500))).astype(np.int32)
    qv = np.rint(rng.laplace(0, 3, (30, 333))).astype(np.int32)
    data = _encode(coder, ranks, qu, qv, 1, 333, 1)
    _r, got_u, got_v, status = _decode(coder, data, 1, 1, 333, (500, 333), 1)
    assert status == entropy.DECODE_OK and np.array_equal(got_u, qu) and np.array_equal(got_v, qv)


def test_decoder_survives_any_stream(coder):
    count, per_row, widths = 400, 20, (16, 16)
    ranks, qu, qv = _data(1, count, widths)
    valid = _encode(coder, ranks, qu, qv, per_row, 16, 50)
    head = 4 + int.from_bytes(valid[:4], "little")
    rng = np.random.default_rng(0)
    outcomes = set()
    for size in (0, 1, 5, 64, 4096):
        for _ in range(10):
            noise = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            for data in (noise, valid[:head] + noise):  # garbage everywhere, or valid ranks and garbage blocks
                got_ranks, _u, _v, status = _decode(coder, data, count, per_row, 16, widths, 50)
                assert got_ranks.max(initial=0) <= 16
                outcomes.add(status)
    assert {entropy.DECODE_BAD_LAST, entropy_v4.DECODE_BAD_STREAM} <= outcomes


def test_a_changed_byte_is_noticed_at_the_block_end(coder):
    count, per_row, widths = 400, 20, (16, 16)
    ranks, qu, qv = _data(2, count, widths)
    data = bytearray(_encode(coder, ranks, qu, qv, per_row, 16, 400))
    data[-3] ^= 0x10  # inside the last block's words
    *_, status = _decode(coder, bytes(data), count, per_row, 16, widths, 400)
    assert status != entropy.DECODE_OK


def test_photos_take_fewer_bytes_than_format_v3s(rgb_crop):
    """The letters' other purpose besides speed: a photo's coefficients in fewer bytes than v3's binary coder."""
    from image_assets.codec import decoder, encode
    from image_assets.codec.container import tiles_per_row

    total_v3 = total_v4 = 0
    for target in (30, 40):
        data = encode(rgb_crop, psnr=target)
        header, layouts, sources = decoder.parse(data)
        total_v4 += sum(header.sections)
        for lay, source in zip(layouts, sources, strict=True):
            code = source.band(0, lay.tiles)
            v3 = entropy.PlaneEncoder(code.ranks, tiles_per_row(lay), min(lay.tile_h, lay.tile_w))
            v3.add(code.ranks, code.qu, code.qv)
            total_v3 += len(v3.finish())
    assert total_v4 < total_v3  # (~2% on 1080p photos: benchmarks/results/codec_sizes_v3_v4.txt)


def test_the_records_buffer_is_sized_exactly(coder):
    """`record_vectors` writes without bounds checks into a buffer `record_count` sized: the count must be exact."""
    for seed, widths in ((5, (16, 16)), (6, (16, 12)), (7, (40, 23))):
        ranks, qu, qv = _data(seed, 600, widths)
        qu[1::9, :] = 0  # empty vectors
        qv[2::11, :] = rng_values = np.random.default_rng(seed).integers(-(2**31) + 1, 2**31, widths[1])
        assert rng_values.size == widths[1]
        want = coder.record_count(qu, qv)
        records = np.zeros(want + 64, np.uint32)
        got = coder.record_vectors(entropy.new_probabilities(), coder.new_alphabets(), ranks, qu, qv, records, 0)
        assert got == want and not records[want:].any()


def test_v5_codes_a_photo_in_far_fewer_symbols_for_about_the_same_bytes(rgb_crop):
    """v5's purpose: a coefficient's value and sign in one letter, so the decoder's serial chain of symbols is
    shorter (the decode's entropy stage ~25% faster at 1080p), without giving up compression."""
    from image_assets.codec import decoder, encode
    from image_assets.codec.container import tiles_per_row

    records = {entropy_v4: 0, entropy_v5: 0}
    sizes = {entropy_v4: 0, entropy_v5: 0}
    for target in (30, 40):
        _header, layouts, sources = decoder.parse(encode(rgb_crop, psnr=target))
        for lay, source in zip(layouts, sources, strict=True):
            code = source.band(0, lay.tiles)
            for coder in records:
                records[coder] += coder.record_count(code.qu, code.qv)
                sizes[coder] += len(_encode(coder, code.ranks, code.qu, code.qv, tiles_per_row(lay), 16, lay.tiles))
    assert records[entropy_v5] < 0.75 * records[entropy_v4]
    assert sizes[entropy_v5] < 1.02 * sizes[entropy_v4]
