"""Inputs as users have them: formats, modes, EXIF orientation, limits and broken files."""

import io

import numpy as np
import pytest
from PIL import Image

from image_assets.codec import CodecError, RankPolicy, compress_image, decode, load_image
from image_assets.codec.metrics import psnr
from tests.codec.conftest import file_bytes


@pytest.fixture(scope="module")
def rgb_image(rgb_crop) -> Image.Image:
    return Image.fromarray(rgb_crop)


@pytest.mark.parametrize(
    ("fmt", "lossless"), [("PNG", True), ("BMP", True), ("TIFF", True), ("WEBP", False), ("JPEG", False)]
)
def test_formats(rgb_image, rgb_crop, fmt, lossless):
    data = file_bytes(rgb_image, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    pixels = load_image(data)
    assert pixels.shape == rgb_crop.shape and pixels.dtype == np.uint8
    if lossless or fmt == "WEBP":
        assert np.array_equal(pixels, rgb_crop)
    else:
        assert psnr(pixels, rgb_crop) > 30


def test_modes(rgb_image):
    grey = rgb_image.convert("L")
    assert load_image(file_bytes(grey, "PNG")).shape == (128, 160)
    assert load_image(file_bytes(rgb_image.convert("1"), "PNG")).shape == (128, 160)
    la = grey.convert("LA")
    assert load_image(file_bytes(la, "PNG")).shape == (128, 160, 2)
    assert load_image(file_bytes(la, "PNG"), keep_alpha=False).shape == (128, 160)
    rgba = rgb_image.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    loaded = load_image(file_bytes(rgba, "PNG"))
    assert loaded.shape == (128, 160, 4)
    assert np.array_equal(loaded, np.asarray(rgba))
    assert load_image(file_bytes(rgba, "PNG"), keep_alpha=False).shape == (128, 160, 3)
    palette = rgb_image.convert("P", palette=Image.Palette.ADAPTIVE)
    assert load_image(file_bytes(palette, "PNG")).shape == (128, 160, 3)
    assert load_image(file_bytes(palette, "PNG", transparency=0)).shape == (128, 160, 4)
    cmyk = rgb_image.convert("CMYK")
    assert load_image(file_bytes(cmyk, "JPEG", quality=95)).shape == (128, 160, 3)
    assert load_image(file_bytes(cmyk, "TIFF")).shape == (128, 160, 3)


def test_sixteen_bit_grey_is_scaled_not_clipped():
    ramp = (np.arange(64, dtype=np.uint16)[None, :] * 1024).repeat(8, axis=0)
    data = file_bytes(Image.fromarray(ramp), "PNG")
    pixels = load_image(data)
    assert pixels.dtype == np.uint8 and pixels.shape == (8, 64)
    assert np.array_equal(pixels[0], np.rint(np.arange(64) * 1024 * 255 / 65535).astype(np.uint8))


def test_exif_orientation_applied(rgb_image):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = file_bytes(rgb_image, "JPEG", quality=95, exif=exif)
    pixels = load_image(data)
    assert pixels.shape == (160, 128, 3)
    upright = np.asarray(Image.open(io.BytesIO(data)).transpose(Image.Transpose.ROTATE_270))
    assert np.array_equal(pixels, upright)


def test_extreme_aspect_ratio_and_single_pixel():
    for shape in [(1, 1, 3), (2, 2000, 3), (1500, 1)]:
        pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
        img = Image.fromarray(pixels if pixels.shape[-1] == 3 else pixels[..., 0])
        result = compress_image(file_bytes(img, "PNG"), RankPolicy("psnr", 30))
        assert decode(result.data).shape == pixels.shape[:2] + ((3,) if shape[-1] == 3 else ())
        assert result.psnr >= 30


def test_alpha_survives_compression(rgb_image):
    rgba = rgb_image.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    result = compress_image(file_bytes(rgba, "PNG"), RankPolicy("psnr", 35))
    out = decode(result.data)
    assert out.shape == (128, 160, 4)
    assert psnr(np.asarray(rgba)[..., 3], out[..., 3]) > 35
    assert 35 <= result.psnr <= 35.5


def test_pixel_limit(rgb_image):
    data = file_bytes(rgb_image, "PNG")
    with pytest.raises(CodecError, match="over the limit"):
        load_image(data, max_pixels=1000)
    assert load_image(data, max_pixels=128 * 160).shape == (128, 160, 3)


def test_pillow_bomb_guard_stays_on(monkeypatch, rgb_image):
    data = file_bytes(rgb_image, "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(CodecError, match="too large"):
        load_image(data)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 100, b"this is not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, b"GIF89a"],
)
def test_bad_inputs(data):
    with pytest.raises(CodecError):
        compress_image(data, RankPolicy())


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF", "BMP"])
def test_truncated_files(rgb_image, fmt):
    data = file_bytes(rgb_image, fmt)
    with pytest.raises(CodecError):
        load_image(data[: len(data) // 2])


def test_bad_pixel_arrays(rgb_crop):
    from image_assets.codec import encode

    for bad in (
        rgb_crop.astype(np.float32),
        rgb_crop[..., None],
        np.zeros((0, 5), np.uint8),
        np.zeros((4, 4, 5), np.uint8),
    ):
        with pytest.raises(CodecError):
            encode(bad)
