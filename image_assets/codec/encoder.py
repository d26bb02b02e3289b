"""Stage 3: apply a rank policy. PSNR targets use the closed-form step plus a bounded secant correction
on the measured (decoded) error, so quantisation, clipping and the colour transform are accounted for
without a long loop of full encodes (the SVDs are computed once; a trial is quantise + reconstruct).

A trial is rendered a band at a time into one reused canvas and keeps only its step, ranks and error: the
quantised vectors of a trial, and the decoded image of any but the latest, are never held (a write quantises
again, band by band; an earlier trial is rendered again if it wins). With analysis.py's bands and factor
budget this is what bounds an encode's memory (docs/codec.md, benchmarks/memory.py)."""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import numpy as np

from image_assets.codec import container, metrics
from image_assets.codec.analysis import Analysis, Layout, analyze, refine
from image_assets.codec.decoder import band_plane, deblock_tiles, render_band, render_channel
from image_assets.codec.errors import CodecError
from image_assets.codec.planes import PlaneSource, uses_color_transform
from image_assets.codec.policy import RankPolicy
from image_assets.codec.quant import PlaneCode, quantize
from image_assets.codec.selection import (
    KAPPA,
    ROUNDING_MSE,
    delta_for_mse,
    keep_floors,
    plane_steps,
    ranks_for,
    spectrum,
    step_scales,
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


@dataclass
class Encoded:
    data: bytes
    pixels: np.ndarray  # exactly what decode(data) returns
    psnr: float
    ranks: tuple[int, ...]
    layout: Layout


DEBLOCK = 0.5  # deblocking strength in units of the first plane's step


def deblock_strength(analysis: Analysis, trial: _Trial) -> float:
    """What the header's `deblock` says for this trial: zero unless the first plane is tiled."""
    first = analysis.layouts[0]
    tiled = first.tile_h < first.height or first.tile_w < first.width
    return round(DEBLOCK * trial.steps[0], 6) if tiled and trial.steps else 0.0


@dataclass
class _Trial:
    delta: float
    ranks: list[np.ndarray]
    steps: list[float]
    mse: float


class _Canvas:
    """Renders trials into one reused image: it holds the latest trial's pixels, and renders an earlier
    trial again when that one is asked for (rare: the search usually ends on the trial it returns)."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.latest: _Trial | None = None
        self._buffer: np.ndarray | None = None

    @property
    def buffer(self) -> np.ndarray:
        """Allocated at the first render, after the spectrum's temporaries are gone."""
        if self._buffer is None:
            pixels = self.analysis.pixels
            channels = 1 if pixels.ndim == 2 else pixels.shape[2]
            self._buffer = np.empty((pixels.shape[0], pixels.shape[1], channels), np.uint8)
        return self._buffer

    def trial(self, delta: float, ranks: list[np.ndarray] | None = None) -> _Trial:
        ranks = ranks if ranks is not None else ranks_for(self.analysis, delta)
        trial = _Trial(delta, ranks, plane_steps(self.analysis, delta), 0.0)
        trial.mse = self._render(trial)
        return trial

    def written_trial(self, delta: float) -> tuple[_Trial, container.Payload]:
        """A trial and its file's payload from one pass over the factors (for a search that writes every trial)."""
        ranks = ranks_for(self.analysis, delta)
        trial = _Trial(delta, ranks, plane_steps(self.analysis, delta), 0.0)
        layouts = self.analysis.layouts
        coefficients = sum(int(r.sum()) * (lay.tile_h + lay.tile_w) for lay, r in zip(layouts, ranks, strict=True))
        self.analysis.reserve(2 * coefficients)  # the int8 payload, then zstd's output buffer of about its size
        payload = container.Payload(layouts, ranks)
        trial.mse = self._render(trial, payload)
        return trial, payload

    def pixels(self, trial: _Trial) -> np.ndarray:
        """The decoded image of `trial` (a view of the canvas: valid until the next render)."""
        if self.latest is not trial:
            self._render(trial)
        return self.buffer[:, :, 0] if self.buffer.shape[2] == 1 else self.buffer

    def _render(self, trial: _Trial, payload: container.Payload | None = None) -> float:
        """Render `trial` band by band exactly as the decoder does; return its MSE with `metrics.mse`'s
        arithmetic (float32 row sums, added in float64)."""
        analysis, out = self.analysis, self.buffer
        pixels = analysis.pixels
        rmax = [int(r.max(initial=0)) for r in trial.ranks]
        row_errors = np.empty(pixels.shape[0], np.float32)
        per_channel = not uses_color_transform(analysis.layout.color, out.shape[2])
        for band_index, band in enumerate(analysis.bands):
            planes = []
            for index, lay in enumerate(analysis.layouts):
                code = _band_code(analysis, trial, index, band_index)
                plane = band_plane(code, lay, rmax[index], band.rows[index])
                if payload is not None:
                    payload.add(index, code)
                del code
                if per_channel:
                    render_channel(plane, band, out, index)
                else:
                    planes.append(plane)
                del plane
            if not per_channel:
                render_band(planes, analysis.layout.color, band, out)
            del planes
        deblock_tiles(out, analysis.layouts, deblock_strength(analysis, trial))
        for band in analysis.bands:
            got = out[band.start : band.stop]
            got = got[:, :, 0] if pixels.ndim == 2 else got
            diff = np.subtract(got, pixels[band.start : band.stop], dtype=np.float32).reshape(got.shape[0], -1)
            row_errors[band.start : band.stop] = np.einsum("ij,ij->i", diff, diff)
        self.latest = trial
        return float(row_errors.sum(dtype=np.float64)) / pixels.size


def _band_code(analysis: Analysis, trial: _Trial, index: int, band_index: int, *, keep: bool = True) -> PlaneCode:
    """Plane `index`'s quantised vectors for the tiles of one band."""
    first, last = analysis.bands[band_index].tiles[index]
    u, vt = analysis.factors(index, band_index, keep=keep)
    return quantize(u, analysis.svds[index].s[first:last], vt, trial.ranks[index][first:last], trial.steps[index])


def encode_array(pixels: np.ndarray, policy: RankPolicy, layout: Layout | None = None) -> Encoded:
    """Encode validated uint8 pixels under `policy`; `layout` overrides the automatic choice."""
    if policy.kind == "psnr":
        lay, source = (layout, None) if layout else default_layout(pixels, policy.value)
        need = _psnr_need(pixels, policy.value)
        analysis = analyze(pixels, lay, need, source, fast_rank=FAST_RANK, floors=keep_floors)
        del source
        _refine_for(analysis, policy.value)
        trim_heap()
        canvas = _Canvas(analysis)
        return _package(canvas, _meet_psnr(canvas, policy.value), policy)
    if policy.kind == "max_bytes":
        return _fit_bytes(analyze(pixels, layout or TILED, floors=keep_floors), policy)
    if policy.kind == "rank":
        k = int(policy.value)
        analysis = analyze(pixels, layout or CLASSIC, k)
        ranks = [np.minimum(p.s.shape[1], k) * np.ones(p.s.shape[0], np.int64) for p in analysis.svds]
    else:
        fraction = policy.value
        analysis = analyze(
            pixels,
            layout or CLASSIC,
            lambda _w, s, energy: float(np.sum(s.astype(np.float64) ** 2)) >= fraction * energy,
        )
        ranks = [_energy_ranks(p.s, e, fraction) for p, e in zip(analysis.svds, analysis.energies, strict=True)]
    canvas = _Canvas(analysis)
    return _package(canvas, canvas.trial(_fixed_delta(analysis, ranks), ranks), policy)


def default_layout(pixels: np.ndarray, target_db: float) -> tuple[Layout, PlaneSource]:
    """Tiled YCbCr 4:2:0, or 4:4:4 when subsampling alone would use too much of the error budget."""
    if pixels.ndim == 2 or pixels.shape[2] < 3:
        layout = Layout("identity", TILED.tile)
        return layout, PlaneSource(pixels, layout.color)
    source = PlaneSource(pixels, TILED.color)
    if source.residual / pixels.size > SUBSAMPLE_SHARE * metrics.mse_from_psnr(target_db):
        del source
        layout = Layout("ycbcr", TILED.tile)
        return layout, PlaneSource(pixels, layout.color)
    return TILED, source


def _refine_for(analysis: Analysis, target_db: float) -> None:
    """Make the fast analysis exact wherever a step near the closed-form one could keep more triplets."""
    if analysis.tails is None:
        return
    delta = REFINE_MARGIN * delta_for_mse(spectrum(analysis), metrics.mse_from_psnr(target_db + AIM_DB))
    refine(
        analysis,
        [
            KAPPA * delta * scale * math.sqrt((lay.tile_h + lay.tile_w) / 2.0 / lay.weight)
            for lay, scale in zip(analysis.layouts, step_scales(analysis), strict=True)
        ],
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
    for lay, plane, e, r in zip(analysis.layouts, analysis.svds, analysis.energies, ranks, strict=True):
        s = plane.s
        mask = np.arange(s.shape[1])[None, :] < r[:, None]
        discarded += lay.weight * (float(e.sum()) - float(np.sum(s[mask].astype(np.float64) ** 2)))
        coefs += float(r.sum()) * (lay.tile_h + lay.tile_w)
    if coefs == 0:
        return 1.0
    return max(math.sqrt(12.0 * QUANT_SHARE * max(discarded, 0.0) / coefs), 0.05)


def _meet_psnr(canvas: _Canvas, target_db: float) -> _Trial:
    """Closed-form step, then at most MAX_TRIALS secant steps on log(step) -> log(measured MSE)."""
    goal = metrics.mse_from_psnr(target_db + AIM_DB)
    ceiling = metrics.mse_from_psnr(target_db + LOW_DB)
    floor = metrics.mse_from_psnr(target_db + HIGH_DB)
    delta = delta_for_mse(spectrum(canvas.analysis), goal)
    trim_heap()
    best: _Trial | None = None
    history: list[_Trial] = []
    for _ in range(MAX_TRIALS):
        trial = canvas.trial(delta)
        history.append(trial)
        if trial.mse <= ceiling and (best is None or trial.delta > best.delta):
            best = trial
        if floor <= trial.mse <= ceiling:
            return trial
        delta = _next_delta(history, goal)
    if best is not None:
        return best
    return canvas.trial(MIN_DELTA)  # keeps every triplet almost exactly


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
    canvas = _Canvas(analysis)
    budget = int(policy.value)
    lo, hi = MIN_DELTA, 1e5

    def attempt(delta: float) -> tuple[_Trial, bytes]:
        trial, payload = canvas.written_trial(delta)
        data = payload.finish(_header(analysis, trial, policy), trial.steps)
        analysis.reserve(0)
        return trial, data

    if len(attempt(hi)[1]) > budget:
        raise CodecError(f"cannot fit this image in {budget} bytes (the smallest .svdz for it is larger)")
    best: tuple[_Trial, bytes] | None = None
    for _ in range(18):
        mid = math.sqrt(lo * hi)
        trial, data = attempt(mid)
        if len(data) <= budget:
            hi, best = mid, (trial, data)
        else:
            lo = mid
        if hi / lo < 1.03:
            break
    trial, data = best if best is not None else (canvas.trial(hi), b"")
    canvas.pixels(trial)  # rendered before the last write releases the factors a render needs
    final = _write(analysis, trial, policy, release=True)
    if not data or len(final) <= len(data):
        data = final
    return _encoded(canvas, trial, data)


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
        "deblock": deblock_strength(analysis, trial),
    }


def _write(analysis: Analysis, trial: _Trial, policy: RankPolicy, *, release: bool = False) -> bytes:
    """The file for `trial`, its vectors quantised band by band straight into the payload. With `release`
    (an encode's last write) each band's stored factors are dropped once quantised, while the payload grows
    a plane at a time."""
    payload = container.Payload(analysis.layouts, trial.ranks)
    for index in range(len(analysis.layouts)):
        for band_index in range(len(analysis.bands)):
            code = _band_code(analysis, trial, index, band_index, keep=not release)
            if release:
                analysis.release(index, band_index)
            payload.add(index, code)
            del code
        if release:
            trim_heap()  # the plane's factors, before the payload grows by the next plane
    return payload.finish(_header(analysis, trial, policy), trial.steps)


def trim_heap() -> None:
    """Hand freed heap memory back to the OS (glibc's malloc_trim; nothing elsewhere). Band-sized blocks (factors,
    the spectrum's and trials' temporaries) live in the heap between live ones; once freed they would stay
    resident under what comes next (the canvas, the payload, zstd's buffers), so the resident peak would
    exceed the allocated one by several bytes per pixel."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _encoded(canvas: _Canvas, trial: _Trial, data: bytes) -> Encoded:
    ranks = tuple(int(r.sum()) for r in trial.ranks)
    return Encoded(data, canvas.pixels(trial), metrics.psnr_from_mse(trial.mse), ranks, canvas.analysis.layout)


def _package(canvas: _Canvas, trial: _Trial, policy: RankPolicy) -> Encoded:
    canvas.pixels(trial)  # rendered before the write releases the factors a render needs
    return _encoded(canvas, trial, _write(canvas.analysis, trial, policy, release=True))
