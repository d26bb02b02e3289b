"""The .svdz container: round trips, committed samples of every version, corruption and inspection."""

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from image_assets.codec import SVDZ_SUFFIX, CodecError, decode, encode, inspect
from image_assets.codec.container import FORMAT_VERSION, PREFIX, SUPPORTED_VERSIONS
from image_assets.codec.metrics import psnr

SAMPLES = Path(__file__).resolve().parents[2] / "image_assets" / "codec" / "samples"


def test_suffix():
    assert SVDZ_SUFFIX == ".svdz"


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (1, 300, 3), (257, 2), (33, 17, 4), (9, 40, 2)])
def test_round_trip_odd_shapes(shape):
    rng = np.random.default_rng(1)
    y, x = np.mgrid[: shape[0], : shape[1]]
    smooth = (x * 3 + y * 2) % 256
    pixels = (smooth[..., None] if len(shape) == 3 else smooth) + rng.integers(0, 8, size=shape)
    pixels = pixels.clip(0, 255).astype(np.uint8)
    for data in (encode(pixels, psnr=40), encode(pixels, rank=3)):
        out = decode(data)
        assert out.shape == pixels.shape and out.dtype == np.uint8
    assert psnr(pixels, decode(encode(pixels, psnr=40))) >= 40


def test_constant_image_is_lossless():
    pixels = np.full((20, 30, 3), 77, np.uint8)
    assert np.array_equal(decode(encode(pixels, psnr=50)), pixels)


def test_inspect_reports_header(rgb_crop):
    data = encode(rgb_crop, psnr=33)
    info = inspect(data)
    json.dumps(info)
    assert info["version"] == FORMAT_VERSION
    assert (info["width"], info["height"], info["channels"]) == (160, 128, 3)
    assert info["policy"] == "psnr=33"
    assert info["file_bytes"] == len(data)
    assert 33 <= info["psnr"] <= 33.5


def test_every_version_has_a_sample_that_decodes():
    for version in SUPPORTED_VERSIONS:
        sample = SAMPLES / f"v{version}.svdz"
        expected = np.load(SAMPLES / f"v{version}.npy")
        data = sample.read_bytes()
        assert inspect(data)["version"] == version
        decoded = decode(data)
        assert decoded.shape == expected.shape
        # Bit-exact except where a different BLAS kernel rounds a pixel at exactly .5 the other way.
        assert np.abs(decoded.astype(int) - expected).max() <= 1
        assert np.mean(decoded == expected) > 0.999


def _rewrap(data: bytes, mutate) -> bytes:
    """Change the header and recompute the checksum, to reach the checks behind it."""
    magic, version, flags, head_len, _crc = PREFIX.unpack_from(data)
    head = json.loads(data[PREFIX.size : PREFIX.size + head_len])
    payload = data[PREFIX.size + head_len :]
    mutate(head)
    new_head = json.dumps(head).encode()
    prefix = PREFIX.pack(magic, version, flags, len(new_head), zlib.crc32(new_head + payload))
    return prefix + new_head + payload


def _corrupt_header(data: bytes, key: str, value) -> bytes:
    return _rewrap(data, lambda h: h.__setitem__(key, value))


@pytest.fixture(scope="module")
def good(rgb_crop) -> bytes:
    return encode(rgb_crop, psnr=32)


def test_flipped_byte_fails_checksum(good):
    for pos in (PREFIX.size + 3, len(good) // 2, len(good) - 1):
        bad = bytearray(good)
        bad[pos] ^= 0x40
        with pytest.raises(CodecError, match="checksum"):
            decode(bytes(bad))


@pytest.mark.parametrize("cut", [0, 3, 10, 40, -1])
def test_truncated(good, cut):
    with pytest.raises(CodecError):
        decode(good[:cut])


def test_bad_magic_and_version(good):
    with pytest.raises(CodecError, match="magic"):
        decode(b"PNG!" + good[4:])
    future = bytearray(good)
    future[4] = 99
    with pytest.raises(CodecError, match=r"unsupported \.svdz version 99"):
        decode(bytes(future))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("width", 0),
        ("height", "x"),
        ("channels", 7),
        ("color", "hsv"),
        ("sections", [1, 2, 3]),
        ("planes", []),
        ("width", 1 << 20),
    ],
)
def test_corrupt_header_fields(good, key, value):
    with pytest.raises(CodecError):
        decode(_corrupt_header(good, key, value))


def test_corrupt_payload_with_valid_checksum(good):
    magic, version, flags, head_len, _ = PREFIX.unpack_from(good)
    head = good[PREFIX.size : PREFIX.size + head_len]
    for payload in (b"", b"\x28\xb5\x2f\xfd garbage", good[PREFIX.size + head_len :][:-5]):
        data = PREFIX.pack(magic, version, flags, len(head), zlib.crc32(head + payload)) + head + payload
        with pytest.raises(CodecError):
            decode(data)


def test_non_svdz_inputs():
    for data in (b"", b"hello world, not an svdz file", struct.pack("<4sBBII", b"SVDZ", 1, 0, 999, 0)):
        with pytest.raises(CodecError):
            decode(data)
        with pytest.raises(CodecError):
            inspect(data)
