"""Stage 3: apply a rank policy. PSNR targets start from the closed-form step, move it to where the factors' own
quantisation error (`prediction`) meets the goal, and render that trial: three times in four the first render lands
in [target, target + 0.5 dB]; otherwise the render calibrates the model for a second, then secant steps on the
measured (decoded) error follow (the SVDs are computed once; a trial is quantise + reconstruct).

A trial is rendered a band at a time into one reused canvas and keeps only its step, ranks and error: the
quantised vectors of a trial, and the decoded image of any but the latest, are never held (a write quantises
again, band by band; an earlier trial is rendered again if it wins). With analysis.py's bands and factor
budget this is what bounds an encode's memory (docs/codec.md, benchmarks/memory.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from image_assets.codec import container, heap, metrics, prediction
from image_assets.codec.analysis import Analysis, Layout, analyze, refine
from image_assets.codec.decoder import band_plane, dct_basis, deblock_tiles, render_band, render_channel
from image_assets.codec.errors import CodecError
from image_assets.codec.planes import PlaneSource, uses_color_transform
from image_assets.codec.policy import RankPolicy
from image_assets.codec.quant import PlaneCode
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
from image_assets.codec.stages import stage
from image_assets.codec.threads import parallel_map, submitter, worker_count

TILED = Layout("ycbcr420", 16)
CLASSIC = Layout("identity", None)  # per-channel whole-image SVD: what "rank" and "energy" mean
MAX_TRIALS = 8
AIM_DB, LOW_DB, HIGH_DB = 0.2, 0.005, 0.48  # aim inside [target, target + 0.5] with float slack
SUBSAMPLE_SHARE = 0.3  # drop chroma subsampling when it alone would eat this share of the error budget
QUANT_SHARE = 0.1  # rank/energy policies: quantisation may add this fraction of the truncation error
MIN_DELTA = 1e-3
FAST_RANK = 6  # PSNR targets: leading triplets per tile found by batched subspace iteration ...
# ... and exact SVDs, before each trial, where its step could keep a triplet beyond them (`_refine_at`); the closed-form
# prediction first refines where REFINE_MARGIN times its step could, for at most PREDICTION_ROUNDS rounds.
REFINE_MARGIN = 1.0
# The closed form charges every kept coefficient step^2 / 12, but most DCT-domain coefficients are far below a step
# (their error is their own square), and the deblocking filter removes some error too: its step renders 0.5-2 dB
# above the goal on photos (median 1.4). Asking it for this much more error centres the start of the model's search.
PREDICTION_BIAS = 10 ** (1.2 / 10)
PREDICTION_ROUNDS = 3
MODEL_TRIALS = 2  # renders whose step comes from `prediction`'s model (then secant steps on what was measured)


@dataclass
class Encoded:
    data: bytes
    pixels: np.ndarray  # exactly what decode(data) returns
    psnr: float
    ranks: tuple[int, ...]
    layout: Layout


DEBLOCK = 0.5  # deblocking strength in units of the first plane's step


MAX_DEBLOCK = 255.0  # past this every step between tiles counts as an artefact already


def deblock_strength(analysis: Analysis, trial: _Trial) -> float:
    """What the header's `deblock` says for this trial: zero unless the first plane is tiled and some tile keeps a
    triplet (a flat image's step grows without bound and has nothing to filter)."""
    first = analysis.layouts[0]
    tiled = first.tile_h < first.height or first.tile_w < first.width
    if not tiled or not trial.steps or not any(r.any() for r in trial.ranks):
        return 0.0
    return round(min(DEBLOCK * trial.steps[0], MAX_DEBLOCK), 6)


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
        if ranks is None:
            _refine_at(self.analysis, delta)
            ranks = ranks_for(self.analysis, delta)
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
        """Render `trial` band by band exactly as the decoder does (the same kernels on the same integers); return
        its MSE, exact (`metrics.mse`)."""
        analysis, out = self.analysis, self.buffer
        pixels = analysis.pixels
        per_channel = not uses_color_transform(analysis.layout.color, out.shape[2])

        def band_pixels(band_index: int) -> None:
            """One band's rows of the canvas (threads take whole bands: their rows are disjoint)."""
            band = analysis.bands[band_index]
            planes = []
            for index, lay in enumerate(analysis.layouts):
                if payload is not None:
                    code = _band_code(analysis, trial, index, band_index)
                    payload.add(index, code)
                    plane = band_plane(code, lay, int(code.ranks.max(initial=0)), band.rows[index])
                    del code
                else:
                    plane = _band_render(analysis, trial, index, band_index)
                if per_channel:
                    render_channel(plane, band, out, index)
                else:
                    planes.append(plane)
                del plane
            if not per_channel:
                render_band(planes, analysis.layout.color, band, out)

        if payload is not None:  # a payload takes each plane's bands in order
            for band_index in range(len(analysis.bands)):
                band_pixels(band_index)
        else:
            parallel_map(band_pixels, range(len(analysis.bands)))
        from image_assets.codec.deblock import strips  # compiled (numba): imported on first use

        strength = deblock_strength(analysis, trial)
        decoded = out if pixels.ndim == 3 else out[:, :, 0]

        def finish_strip(rows: tuple[int, int]) -> float:
            """Deblock one strip and measure it (threads take whole strips: they own disjoint rows and edges)."""
            deblock_tiles(out, analysis.layouts, analysis.layout.color, strength, rows)
            return metrics.squared_error(decoded[rows[0] : rows[1]], pixels[rows[0] : rows[1]])

        grid = analysis.layouts[0].tile_h
        errors = parallel_map(finish_strip, strips(out.shape[0], grid, 2 * worker_count()))
        self.latest = trial
        return math.fsum(errors) / pixels.size


def _band_code(analysis: Analysis, trial: _Trial, index: int, band_index: int, *, keep: bool = True) -> PlaneCode:
    """Plane `index`'s quantised vectors for the tiles of one band."""
    first, last = analysis.bands[band_index].tiles[index]
    lay = analysis.layouts[index]
    ranks = trial.ranks[index][first:last].astype(np.int64)
    rows = int(ranks.sum())
    qu, qv = np.empty((rows, lay.tile_h), np.int32), np.empty((rows, lay.tile_w), np.int32)
    if rows:
        from image_assets.codec import (
            kernels,
        )  # compiled (numba): imported on first use, so processes that only load definitions skip ~1 s

        args = analysis.part(index, band_index, keep=keep).kernel_args()
        kernels.quantize_tiles(
            *args[:2], analysis.svds[index].s[first:last], *args[2:], ranks, trial.steps[index], qu, qv
        )
    return PlaneCode(ranks, qu, qv, trial.steps[index], dct=True)


def _band_render(analysis: Analysis, trial: _Trial, index: int, band_index: int) -> np.ndarray:
    """Plane `index`'s rows of one band as the decoder renders them, straight from the factors (no stored integers)."""
    band = analysis.bands[band_index]
    first, last = band.tiles[index]
    lay = analysis.layouts[index]
    plane = np.empty((band.rows[index][1] - band.rows[index][0], lay.width), np.float32)
    ranks = trial.ranks[index][first:last].astype(np.int64)
    if not ranks.any():
        plane[...] = 0.0
        return plane
    from image_assets.codec import kernels

    args = analysis.part(index, band_index).kernel_args()
    s = analysis.svds[index].s[first:last]
    basis_h, basis_w = dct_basis(lay.tile_h), dct_basis(lay.tile_w)
    per_row = -(-lay.width // lay.tile_w)
    kernels.render_factor_tiles(*args[:2], s, *args[2:], ranks, trial.steps[index], basis_h, basis_w, per_row, plane)
    return plane


def _trim(analysis: Analysis) -> None:
    if analysis.heap is not None:
        analysis.heap.trim(analysis.pixels)


def encode_array(pixels: np.ndarray, policy: RankPolicy, layout: Layout | None = None) -> Encoded:
    """Encode validated uint8 pixels under `policy`; `layout` overrides the automatic choice."""
    with heap.call_scope() as trimmer:  # before the encode allocates: the heap's free memory now is not its doing
        return _encode_array(pixels, policy, layout, trimmer)


def _encode_array(pixels: np.ndarray, policy: RankPolicy, layout: Layout | None, trimmer: heap.HeapTrimmer) -> Encoded:
    if policy.kind == "psnr":
        with stage("encode: colour transform"):
            lay, source = (layout, None) if layout else default_layout(pixels, policy.value)
        need = _psnr_need(pixels, policy.value)
        with stage("encode: tile SVDs"):
            analysis = analyze(pixels, lay, need, source, fast_rank=FAST_RANK, floors=keep_floors, heap=trimmer)
        del source
        trimmer.trim(pixels)
        canvas = _Canvas(analysis)
        trial = _meet_psnr(canvas, policy.value)
        with stage("encode: write"):
            return _package(canvas, trial, policy)
    if policy.kind == "max_bytes":
        return _fit_bytes(analyze(pixels, layout or TILED, floors=keep_floors, heap=trimmer), policy)
    if policy.kind == "rank":
        k = int(policy.value)
        analysis = analyze(pixels, layout or CLASSIC, k, heap=trimmer)
        ranks = [np.minimum(p.s.shape[1], k) * np.ones(p.s.shape[0], np.int64) for p in analysis.svds]
    else:
        fraction = policy.value
        analysis = analyze(
            pixels,
            layout or CLASSIC,
            lambda _w, s, energy: float(np.sum(s.astype(np.float64) ** 2)) >= fraction * energy,
            heap=trimmer,
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


def _refine_at(analysis: Analysis, delta: float) -> int:
    """Make the fast analysis exact wherever step `delta` could keep a triplet the fast pass did not find (tiles
    whose last found triplet passes the keep threshold). Run before each trial, it refines only the tiles the
    search actually reaches (a few percent at 35 dB) instead of every tile a guessed margin might need."""
    if analysis.tails is None:
        return 0
    with stage("encode: exact SVDs (refine)"):
        return refine(
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
    """Closed-form step, refined on the factors' own quantisation error (`prediction`) before the first render and
    again, calibrated by what that render measured, before the second; then secant steps on log(step) -> log(measured
    MSE), at most MAX_TRIALS renders in all."""
    analysis = canvas.analysis
    goal = metrics.mse_from_psnr(target_db + AIM_DB)
    ceiling = metrics.mse_from_psnr(target_db + LOW_DB)
    floor = metrics.mse_from_psnr(target_db + HIGH_DB)
    delta = _predicted_delta(analysis, goal * PREDICTION_BIAS)
    _trim(analysis)
    gain = prediction.render_gain(target_db)  # measured MSE / modelled MSE, until a render measures it
    best: _Trial | None = None
    history: list[_Trial] = []
    for attempt in range(MAX_TRIALS):
        if attempt < MODEL_TRIALS:
            with stage("encode: prediction"):
                delta = prediction.delta_for_model(
                    analysis, goal / gain, delta, prepare=lambda d: _refine_at(analysis, d)
                )
        with stage("encode: trials"):
            trial = canvas.trial(delta)
        history.append(trial)
        if trial.mse <= ceiling and (best is None or trial.delta > best.delta):
            best = trial
        if floor <= trial.mse <= ceiling:
            return trial
        if attempt + 1 < MODEL_TRIALS:
            with stage("encode: prediction"):
                modelled = prediction.model_mse(analysis, delta)
            if trial.mse > 0.0 and modelled > 0.0:  # (a lossless render calibrates nothing)
                gain = trial.mse / modelled
        else:
            delta = _next_delta(history, goal)
    if best is not None:
        return best
    return canvas.trial(MIN_DELTA)  # keeps every triplet almost exactly


def _predicted_delta(analysis: Analysis, goal: float) -> float:
    """The closed-form step for `goal`, with the tiles it reaches made exact first: the fast analysis counts the
    energy beyond its triplets as discarded, which can make the prediction far too fine (a textured photo then
    looks unable to reach the goal at any step)."""
    with stage("encode: spectrum"):
        delta = delta_for_mse(spectrum(analysis), goal)
    for _ in range(PREDICTION_ROUNDS):
        if not _refine_at(analysis, REFINE_MARGIN * delta):
            break
        with stage("encode: spectrum"):
            delta = delta_for_mse(spectrum(analysis), goal)
    return delta


def _next_delta(history: list[_Trial], goal: float) -> float:
    """Secant step on log(step) -> log(MSE), kept inside the bracket the trials so far establish (bisection in
    log(step) when the secant leaves it), so a bad first prediction cannot make the search oscillate."""
    below = [t.delta for t in history if 0 < t.mse <= goal]  # steps known to be fine enough
    above = [t.delta for t in history if t.mse > goal]  # steps known to be too coarse
    low, high = (max(below) if below else None), (min(above) if above else None)
    proposal = _secant(history, goal)
    if low is not None and high is not None and low < high and not low < proposal < high:
        return math.sqrt(low * high)
    return proposal


def _secant(history: list[_Trial], goal: float) -> float:
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
    payload = container.Payload(analysis.layouts, trial.ranks, submitter())

    def plane_stream(index: int) -> None:
        """One plane's stream (threads take whole planes: each has its own coder). Its model is one chain, so the
        luma plane's would keep one thread busy for most of the stage: its finished rANS blocks go back to the pool
        (`submitter`), where the other thread codes them once the chroma planes are done."""
        for band_index in range(len(analysis.bands)):
            code = _band_code(analysis, trial, index, band_index, keep=not release)
            if release:
                analysis.release(index, band_index)
            payload.add(index, code)
            del code
        if release:
            _trim(analysis)  # the plane's factors, before the payload grows

    parallel_map(plane_stream, range(len(analysis.layouts)))
    return payload.finish(_header(analysis, trial, policy), trial.steps)


def _encoded(canvas: _Canvas, trial: _Trial, data: bytes) -> Encoded:
    ranks = tuple(int(r.sum()) for r in trial.ranks)
    return Encoded(data, canvas.pixels(trial), metrics.psnr_from_mse(trial.mse), ranks, canvas.analysis.layout)


def _package(canvas: _Canvas, trial: _Trial, policy: RankPolicy) -> Encoded:
    canvas.pixels(trial)  # rendered before the write releases the factors a render needs
    return _encoded(canvas, trial, _write(canvas.analysis, trial, policy, release=True))
