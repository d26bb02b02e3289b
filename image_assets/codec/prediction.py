"""The error a step gives, from the factors themselves: what lets a PSNR target usually take one render.

`selection.predicted_mse` is closed form: it charges every kept coefficient delta^2 / 12, but most DCT-domain
coefficients are far below a step (their error is their own square), so it misses the rendered error by 0.3-6 dB
(-1.5 +- 1.3 dB on the benchmark photos at 30-40 dB). Here each kept triplet is quantised as the file would hold
it and its error computed exactly in O(m + n) (`kernels.quantization_error`); added to the discarded energy, the
subsampling residual and rounding, that misses by -0.3 +- 0.3 dB: the deblocking filter and clipping to 0..255,
which only the render sees, take a little more error away. An evaluation costs a pass over the kept vectors (about
3 ms at 1080p), a render about 20.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from image_assets.codec.analysis import Analysis
from image_assets.codec.selection import ROUNDING_MSE, plane_steps, ranks_for
from image_assets.codec.threads import parallel_map

SEARCH_ROUNDS = 8  # secant steps on the model (it converges in 1-3)
SEARCH_TOLERANCE = 0.02  # relative MSE: 0.09 dB (the model itself misses the render by about 0.25 dB)


def render_gain(target_db: float) -> float:
    """Measured MSE / modelled MSE expected of a render before one has calibrated it: the deblocking filter (and
    clipping) take away more error at coarser steps, 0.37 dB at 30 dB, 0.25 dB at 35, 0.13 dB at 40 (medians of
    the first renders on the benchmark photos)."""
    return 10 ** (-(0.25 + 0.024 * (35.0 - target_db)) / 10)


def model_mse(analysis: Analysis, delta: float) -> float:
    """Per-sample MSE of the file step `delta` gives, before the render's deblocking and clipping."""
    from image_assets.codec import (
        kernels,
    )  # compiled (numba): imported on first use, so processes that only load definitions skip ~1 s

    ranks, steps = ranks_for(analysis, delta), plane_steps(analysis, delta)

    def measure(item: tuple[int, int]) -> tuple[float, float]:
        """(kept energy, quantisation error) of one plane's tiles in one band (threads take bands)."""
        index, band_index = item
        first, last = analysis.bands[band_index].tiles[index]
        band_ranks = ranks[index][first:last].astype(np.int64)
        if not band_ranks.any():
            return 0.0, 0.0
        u, vt, slot, exact_u, exact_vt = analysis.part(index, band_index).kernel_args()
        s = analysis.svds[index].s[first:last]
        return kernels.quantization_error(u, vt, s, slot, exact_u, exact_vt, band_ranks, steps[index])

    items = [(index, band_index) for index in range(len(analysis.layouts)) for band_index in range(len(analysis.bands))]
    measured = parallel_map(measure, items)
    per_plane = len(analysis.bands)
    kept, quantization = 0.0, 0.0
    for index, lay in enumerate(analysis.layouts):
        energy, error = 0.0, 0.0
        # summed in band order, whichever thread measured them: the same bits on any number of threads
        for band_energy, band_error in measured[index * per_plane : (index + 1) * per_plane]:
            energy += band_energy
            error += band_error
        kept += lay.weight * energy
        quantization += lay.weight * error
    discarded = max(analysis.total_energy() - kept, 0.0)
    return (discarded + quantization + analysis.residual) / analysis.samples + ROUNDING_MSE


def delta_for_model(
    analysis: Analysis, goal: float, start: float, prepare: Callable[[float], object] | None = None
) -> float:
    """A step whose modelled MSE is `goal` (within SEARCH_TOLERANCE), by secant steps on log(step) -> log(MSE) from
    `start`, kept within [start / 4, start * 16] (`start` is the closed form's, which overestimates the error: a goal
    the image cannot reach never drives the step to nothing). `prepare(delta)` runs before each evaluation (the
    encoder makes the tiles that step reaches exact)."""
    lo, hi = start / 4.0, start * 16.0
    delta, previous = start, None
    for _ in range(SEARCH_ROUNDS):
        if prepare is not None:
            prepare(delta)
        mse = model_mse(analysis, delta)
        if abs(mse / goal - 1.0) <= SEARCH_TOLERANCE or mse <= 0.0:
            return delta
        slope = 1.0  # d log(MSE) / d log(step) near a photo's target: ranks fall as the step grows
        if previous is not None and previous[1] != mse and previous[0] != delta:
            slope = min(max(math.log(mse / previous[1]) / math.log(delta / previous[0]), 0.3), 3.0)
        previous = (delta, mse)
        delta = min(max(delta * (goal / mse) ** (1.0 / slope), lo), hi)
    return delta
