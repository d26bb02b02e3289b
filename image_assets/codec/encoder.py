"""Stage 3: apply a rank policy. PSNR targets use the closed-form step plus a bounded secant correction
on the measured (decoded) error, so quantisation, clipping and the colour transform are accounted for
without a long loop of full encodes (the SVDs are computed once; a trial is quantise + reconstruct)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from image_assets.codec import container, metrics
from image_assets.codec.analysis import Analysis, Layout, Planes, analyze, refine
from image_assets.codec.decoder import render
from image_assets.codec.errors import CodecError
from image_assets.codec.planes import to_planes
from image_assets.codec.policy import RankPolicy
from image_assets.codec.quant import PlaneCode, quantize
from image_assets.codec.selection import (
    KAPPA,
    ROUNDING_MSE,
    delta_for_mse,
    plane_steps,
    ranks_for,
    spectrum,
)

TILED = Layout("ycbcr420", 16)
CLASSIC = Layout("identity", None)  # per-channel whole-image SVD: what "rank" and "energy" mean
MAX_TRIALS = 8
AIM_DB, LOW_DB, HIGH_DB = 0.2, 0.005, 0.48  # aim inside [target, target + 0.5] with float slack
SUBSAMPLE_SHARE = 0.3  # drop chroma subsampling when it alone would eat this share of the error budget
QUANT_SHARE = 0.1  # rank/energy policies: quantisation may add this fraction of the truncation error
MIN_DELTA = 1e-3
FAST_RANK = 6  # PSNR targets: leading triplets per tile found by batched subspace iteration ...
REFINE_MARGIN = 0.8  # ... and exact SVDs where a triplet above this fraction of the first step's cut may hide
SEARCH_LEVEL = 3  # zstd level while searching a byte budget (the final file uses the container's level)


@dataclass
class Encoded:
    data: bytes
    pixels: np.ndarray  # exactly what decode(data) returns
    psnr: float
    ranks: tuple[int, ...]
    layout: Layout


@dataclass
class _Trial:
    delta: float
    codes: list[PlaneCode]
    pixels: np.ndarray
    mse: float


def encode_array(pixels: np.ndarray, policy: RankPolicy, layout: Layout | None = None) -> Encoded:
    """Encode validated uint8 pixels under `policy`; `layout` overrides the automatic choice."""
    if policy.kind == "psnr":
        lay, planes = (layout, None) if layout else default_layout(pixels, policy.value)
        analysis = analyze(pixels, lay, _psnr_need(pixels, policy.value), planes, fast_rank=FAST_RANK)
        _refine_for(analysis, policy.value)
        return _package(analysis, _meet_psnr(analysis, policy.value), policy)
    if policy.kind == "max_bytes":
        return _fit_bytes(analyze(pixels, layout or TILED), policy)
    if policy.kind == "rank":
        k = int(policy.value)
        analysis = analyze(pixels, layout or CLASSIC, k)
        ranks = [np.minimum(s.shape[1], k) * np.ones(s.shape[0], np.int64) for _u, s, _vt in analysis.svds]
    else:
        fraction = policy.value
        analysis = analyze(
            pixels,
            layout or CLASSIC,
            lambda _w, s, energy: float(np.sum(s.astype(np.float64) ** 2)) >= fraction * energy,
        )
        ranks = [
            _energy_ranks(s, e, fraction) for (_u, s, _vt), e in zip(analysis.svds, analysis.energies, strict=True)
        ]
    return _package(analysis, _trial(analysis, _fixed_delta(analysis, ranks), ranks), policy)


def default_layout(pixels: np.ndarray, target_db: float) -> tuple[Layout, Planes]:
    """Tiled YCbCr 4:2:0, or 4:4:4 when subsampling alone would use too much of the error budget."""
    if pixels.ndim == 2 or pixels.shape[2] < 3:
        layout = Layout("identity", TILED.tile)
        return layout, to_planes(pixels, layout.color)
    planes = to_planes(pixels, TILED.color)
    if planes[2] / pixels.size > SUBSAMPLE_SHARE * metrics.mse_from_psnr(target_db):
        layout = Layout("ycbcr", TILED.tile)
        return layout, to_planes(pixels, layout.color)
    return TILED, planes


def _refine_for(analysis: Analysis, target_db: float) -> None:
    """Make the fast analysis exact wherever a step near the closed-form one could keep more triplets."""
    if analysis.tails is None:
        return
    delta = REFINE_MARGIN * delta_for_mse(spectrum(analysis), metrics.mse_from_psnr(target_db + AIM_DB))
    refine(
        analysis,
        [KAPPA * delta * math.sqrt((lay.tile_h + lay.tile_w) / 2.0 / lay.weight) for lay in analysis.layouts],
    )


def _psnr_need(pixels: np.ndarray, target_db: float):
    """Whole-plane SVDs grow until this plane's discarded energy fits half the error budget."""
    budget = max(metrics.mse_from_psnr(target_db) - ROUNDING_MSE, 0.0) * pixels.size
    return lambda weight, s, energy: weight * (energy - float(np.sum(s.astype(np.float64) ** 2))) <= 0.5 * budget


def _energy_ranks(s: np.ndarray, energy: np.ndarray, fraction: float) -> np.ndarray:
    cum = np.cumsum(s.astype(np.float64) ** 2, axis=1)
    return np.minimum((cum < fraction * energy[:, None] * (1 - 1e-6)).sum(axis=1) + 1, s.shape[1])


def _fixed_delta(analysis: Analysis, ranks: list[np.ndarray]) -> float:
    """Step whose quantisation error is QUANT_SHARE of the truncation error the given ranks leave."""
    discarded, coefs = 0.0, 0.0
    for lay, (_u, s, _vt), e, r in zip(analysis.layouts, analysis.svds, analysis.energies, ranks, strict=True):
        mask = np.arange(s.shape[1])[None, :] < r[:, None]
        discarded += lay.weight * (float(e.sum()) - float(np.sum(s[mask].astype(np.float64) ** 2)))
        coefs += float(r.sum()) * (lay.tile_h + lay.tile_w)
    if coefs == 0:
        return 1.0
    return max(math.sqrt(12.0 * QUANT_SHARE * max(discarded, 0.0) / coefs), 0.05)


def _trial(analysis: Analysis, delta: float, ranks: list[np.ndarray] | None = None) -> _Trial:
    ranks = ranks if ranks is not None else ranks_for(analysis, delta)
    codes = [
        quantize(u, s, vt, r, step)
        for (u, s, vt), r, step in zip(analysis.svds, ranks, plane_steps(analysis, delta), strict=True)
    ]
    height, width = analysis.pixels.shape[:2]
    channels = 1 if analysis.pixels.ndim == 2 else analysis.pixels.shape[2]
    out = render(analysis.layouts, codes, analysis.layout.color, height, width, channels)
    return _Trial(delta, codes, out, metrics.mse(out, analysis.pixels))


def _meet_psnr(analysis: Analysis, target_db: float) -> _Trial:
    """Closed-form step, then at most MAX_TRIALS secant steps on log(step) -> log(measured MSE)."""
    goal = metrics.mse_from_psnr(target_db + AIM_DB)
    ceiling = metrics.mse_from_psnr(target_db + LOW_DB)
    floor = metrics.mse_from_psnr(target_db + HIGH_DB)
    delta = delta_for_mse(spectrum(analysis), goal)
    best: _Trial | None = None
    history: list[_Trial] = []
    for _ in range(MAX_TRIALS):
        trial = _trial(analysis, delta)
        history.append(trial)
        if trial.mse <= ceiling and (best is None or trial.delta > best.delta):
            best = trial
        if floor <= trial.mse <= ceiling:
            return trial
        delta = _next_delta(history, goal)
    if best is not None:
        return best
    return _trial(analysis, MIN_DELTA)  # keeps every triplet almost exactly


def _next_delta(history: list[_Trial], goal: float) -> float:
    last = history[-1]
    if last.mse <= 0:
        return last.delta * 4.0
    slope = 1.0
    for prev in reversed(history[:-1]):
        if prev.mse > 0 and prev.delta != last.delta and prev.mse != last.mse:
            slope = math.log(last.mse / prev.mse) / math.log(last.delta / prev.delta)
            break
    slope = min(max(slope, 0.3), 3.0)
    return max(last.delta * (goal / last.mse) ** (1.0 / slope), MIN_DELTA)


def _fit_bytes(analysis: Analysis, policy: RankPolicy) -> Encoded:
    """Smallest step (best quality) whose file fits: bisection on log(step), sizes measured."""
    budget = int(policy.value)
    lo, hi = MIN_DELTA, 1e5
    if len(_write(analysis, _trial(analysis, hi), policy, SEARCH_LEVEL)) > budget:
        raise CodecError(f"cannot fit this image in {budget} bytes (the smallest .svdz for it is larger)")
    best: tuple[_Trial, bytes] | None = None
    for _ in range(18):
        mid = math.sqrt(lo * hi)
        trial = _trial(analysis, mid)
        data = _write(analysis, trial, policy, SEARCH_LEVEL)
        if len(data) <= budget:
            hi, best = mid, (trial, data)
        else:
            lo = mid
        if hi / lo < 1.03:
            break
    trial, data = best if best is not None else (_trial(analysis, hi), b"")
    final = _write(analysis, trial, policy, container.ZSTD_LEVEL)
    if not data or len(final) <= len(data):
        data = final
    return _encoded(analysis, trial, data)


def _header(analysis: Analysis, trial: _Trial, policy: RankPolicy) -> dict:
    pixels = analysis.pixels
    psnr = metrics.psnr_from_mse(trial.mse)
    return {
        "width": int(pixels.shape[1]),
        "height": int(pixels.shape[0]),
        "channels": 1 if pixels.ndim == 2 else int(pixels.shape[2]),
        "color": analysis.layout.color,
        "layout": analysis.layout.describe(),
        "policy": policy.describe(),
        "psnr": None if math.isinf(psnr) else round(psnr, 4),
        "encoder": "imgpipe-svd",
    }


def _write(analysis: Analysis, trial: _Trial, policy: RankPolicy, level: int) -> bytes:
    return container.write(_header(analysis, trial, policy), analysis.layouts, trial.codes, level=level)


def _encoded(analysis: Analysis, trial: _Trial, data: bytes) -> Encoded:
    ranks = tuple(int(c.ranks.sum()) for c in trial.codes)
    return Encoded(data, trial.pixels, metrics.psnr_from_mse(trial.mse), ranks, analysis.layout)


def _package(analysis: Analysis, trial: _Trial, policy: RankPolicy) -> Encoded:
    return _encoded(analysis, trial, _write(analysis, trial, policy, container.ZSTD_LEVEL))
