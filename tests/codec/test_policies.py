"""Rank policies meet their targets on the decoded image of real photos."""

import numpy as np
import pytest

from image_assets.codec import CodecError, RankPolicy, decode, encode, encode_pixels
from image_assets.codec.metrics import psnr


@pytest.mark.parametrize("target", [30.0, 35.0, 40.0])
@pytest.mark.parametrize("crop", ["rgb_crop", "gray_crop", "coffee_crop"])
def test_psnr_target_met_within_half_db(request, crop, target):
    pixels = request.getfixturevalue(crop)
    result = encode_pixels(pixels, RankPolicy("psnr", target))
    decoded = decode(result.data)
    achieved = psnr(pixels, decoded)
    assert target <= achieved <= target + 0.5
    assert result.psnr == pytest.approx(achieved, abs=1e-9)
    assert 0.0 < result.ssim <= 1.0
    assert result.bits_per_pixel == pytest.approx(8 * len(result.data) / pixels.shape[0] / pixels.shape[1])


def test_higher_target_costs_more_bytes(rgb_crop):
    sizes = [len(encode(rgb_crop, psnr=t)) for t in (30, 35, 40)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_fixed_rank_is_per_channel(rgb_crop):
    result = encode_pixels(rgb_crop, RankPolicy("rank", 12))
    assert result.ranks == (12, 12, 12)
    assert result.layout == "identity/whole"
    more = encode_pixels(rgb_crop, RankPolicy("rank", 40))
    assert more.psnr > result.psnr


def test_full_rank_is_near_lossless(gray_crop):
    result = encode_pixels(gray_crop, RankPolicy("rank", 500))
    assert result.ranks == (min(gray_crop.shape),)
    assert result.psnr > 45


def test_energy_fraction(gray_crop):
    centred = gray_crop.astype(np.float64) - 128
    _, s, _ = np.linalg.svd(centred)
    result = encode_pixels(gray_crop, RankPolicy("energy", 0.95))
    (rank,) = result.ranks
    kept = np.cumsum(s**2) / np.sum(s**2)
    assert kept[rank - 1] >= 0.95 - 1e-4
    assert rank == 1 or kept[rank - 2] < 0.95 + 1e-4


@pytest.mark.parametrize("budget", [1500, 6000])
def test_max_bytes_fits_and_uses_the_budget(rgb_crop, budget):
    result = encode_pixels(rgb_crop, RankPolicy("max_bytes", budget))
    assert len(result.data) <= budget
    assert len(result.data) > 0.7 * budget
    decode(result.data)


def test_max_bytes_too_small(rgb_crop):
    with pytest.raises(CodecError, match="cannot fit"):
        encode(rgb_crop, max_bytes=10)


def test_encode_rejects_two_policies(rgb_crop):
    with pytest.raises(CodecError):
        encode(rgb_crop, psnr=30, energy=0.9)
