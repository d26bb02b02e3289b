"""The encoder's error model: each kept triplet's quantisation error computed from its factors, so that a PSNR
target usually takes one render."""

from __future__ import annotations

import numpy as np
import pytest

from image_assets.codec import RankPolicy, encode_pixels, kernels, metrics, prediction, selection
from image_assets.codec.analysis import Layout, analyze
from image_assets.codec.encoder import FAST_RANK, TILED, _Canvas
from image_assets.codec.selection import keep_floors


def _orthonormal(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """`count` random unit vectors of length n (float32), smooth-ish like DCT-domain singular vectors."""
    x = rng.standard_normal((count, n)) / (1.0 + np.arange(n))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_triplet_error_is_the_error_of_what_the_decoder_renders():
    rng = np.random.default_rng(7)
    count, n, step = 40, 16, 3.0
    u = _orthonormal(rng, count, n)[:, :, None]  # (T, m, 1): one triplet per tile, DCT domain
    vt = _orthonormal(rng, count, n)[:, None, :]  # (T, 1, n)
    s = rng.uniform(0.5, 60.0, (count, 1)).astype(np.float32)  # from "rounds to nothing" to fine
    ranks = np.ones(count, np.int64)
    slot = np.full(count, -1, np.int64)
    none_u, none_vt = np.zeros((0, n, 1), np.float32), np.zeros((0, 1, n), np.float32)
    kept, modelled = kernels.quantization_error(u, vt, s, slot, none_u, none_vt, ranks, step)

    qu, qv = np.empty((count, n), np.int32), np.empty((count, n), np.int32)
    kernels.quantize_tiles(u, vt, s, slot, none_u, none_vt, ranks, step, qu, qv)
    basis = kernels.dct_basis(n)
    rendered = np.empty((n, count * n), np.float32)
    kernels.tiles_to_plane(ranks, qu, qv, step, basis, basis, count, rendered)
    spatial_u, spatial_v = basis.T @ u[:, :, 0].T, basis.T @ vt[:, 0, :].T  # (n, T) each
    exact = np.concatenate([s[t, 0] * np.outer(spatial_u[:, t], spatial_v[:, t]) for t in range(count)], axis=1)
    assert kept == pytest.approx(float(np.sum(s.astype(np.float64) ** 2)))
    assert modelled == pytest.approx(float(np.sum((exact - rendered).astype(np.float64) ** 2)), rel=1e-3)


def test_the_model_predicts_renders_better_than_the_closed_form(rgb_crop, coffee_crop, gray_crop):
    model_misses, closed_form_misses = [], []
    for pixels in (rgb_crop, coffee_crop, gray_crop):
        layout = TILED if pixels.ndim == 3 else Layout("identity", TILED.tile)
        for target in (30.0, 35.0, 40.0):
            analysis = analyze(pixels, layout, fast_rank=FAST_RANK, floors=keep_floors)
            delta = selection.delta_for_mse(selection.spectrum(analysis), metrics.mse_from_psnr(target))
            measured = metrics.psnr_from_mse(_Canvas(analysis).trial(delta).mse)  # refines at delta, renders
            modelled = metrics.psnr_from_mse(prediction.model_mse(analysis, delta))
            closed_form = metrics.psnr_from_mse(selection.predicted_mse(selection.spectrum(analysis), delta))
            model_misses.append(measured - modelled)
            closed_form_misses.append(measured - closed_form)
    # The render only takes error away beyond the model (deblocking; clipping, which saturated photos such as the
    # camera's coat at 40 dB feel most): the model may be pessimistic, never optimistic.
    assert all(miss >= -0.1 for miss in model_misses), model_misses
    assert np.median(model_misses) <= 0.45, model_misses
    assert np.mean(np.abs(model_misses)) < 0.7 * np.mean(np.abs(closed_form_misses)), (
        model_misses,
        closed_form_misses,
    )


def test_psnr_targets_mostly_take_one_render(rgb_crop, coffee_crop, gray_crop, monkeypatch):
    renders: list[float] = []
    original = _Canvas.trial

    def counting(self, delta, ranks=None):
        renders.append(delta)
        return original(self, delta, ranks)

    monkeypatch.setattr(_Canvas, "trial", counting)
    counts = []
    for pixels in (rgb_crop, coffee_crop, gray_crop):
        for target in (30.0, 35.0, 40.0):
            renders.clear()
            encoded = encode_pixels(pixels, RankPolicy("psnr", target))
            assert target <= encoded.psnr <= target + 0.5
            counts.append(len(renders))
    assert max(counts) <= 3 and np.mean(counts) <= 1.5, counts
