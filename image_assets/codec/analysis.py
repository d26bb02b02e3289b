"""Stage 1 of an encode: colour transform, tiling and the SVD of every tile, plus the energy bookkeeping
the closed-form rank choice needs (discarded energy = tile energy - kept sigma^2)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from image_assets.codec.planes import to_planes
from image_assets.codec.quant import PlaneLayout
from image_assets.codec.svd import Triplets, batched_tile_svd, svd_until, topk_tile_svd, truncated_svd
from image_assets.codec.tiles import to_tiles


@dataclass(frozen=True)
class Layout:
    """How an image is cut up: colour model and square tile side (None: one tile per plane)."""

    color: str
    tile: int | None

    def describe(self) -> str:
        return f"{self.color}/{'whole' if self.tile is None else f'tile{self.tile}'}"


@dataclass
class Analysis:
    """Everything the rank choice needs; the SVDs are computed once per encode."""

    pixels: np.ndarray
    layout: Layout
    layouts: list[PlaneLayout]
    svds: list[Triplets]
    energies: list[np.ndarray]  # (T,) squared Frobenius norm of each tile
    residual: float  # weighted squared error of chroma subsampling alone
    tails: list[np.ndarray] | None = None  # fast analysis: energy outside the triplets found, per tile
    tiles: list[np.ndarray] | None = None  # fast analysis: each plane's (T, th, tw) tile stack

    @property
    def samples(self) -> int:
        return int(self.pixels.size)

    def total_energy(self) -> float:
        return float(sum(lay.weight * float(e.sum()) for lay, e in zip(self.layouts, self.energies, strict=True)))


# For a whole-plane SVD the caller says how many triplets it needs, as a rank or as a test on the
# singular values found so far (plane index, singular values, plane energy) -> enough?
RankNeed = int | Callable[[int, np.ndarray, float], bool] | None


Planes = tuple[list[np.ndarray], list[float], float]


def analyze(
    pixels: np.ndarray,
    layout: Layout,
    need: RankNeed = None,
    planes: Planes | None = None,
    *,
    fast_rank: int | None = None,
) -> Analysis:
    """SVD every tile of every plane; `planes` may pass in an already computed `to_planes` result.

    With `fast_rank`, tiled planes get only their leading `fast_rank` triplets (batched subspace
    iteration); `Analysis.tails` then says which tiles may need more (see `refine`)."""
    plane_list, weights, residual = planes if planes is not None else to_planes(pixels, layout.color)
    layouts, svds, energies, tails, stacks = [], [], [], [], []
    for index, (plane, weight) in enumerate(zip(plane_list, weights, strict=True)):
        h, w = plane.shape
        th, tw = (h, w) if layout.tile is None else (min(layout.tile, h), min(layout.tile, w))
        tiles = to_tiles(plane, th, tw)
        energy = np.einsum("tij,tij->t", tiles, tiles, dtype=np.float64)
        whole = layout.tile is None
        if whole:
            svd, tail = _whole_plane(tiles[0], index, float(energy[0]), need), np.zeros(1)
        elif fast_rank is not None and min(th, tw) > fast_rank:
            svd, tail = topk_tile_svd(tiles, fast_rank)
        else:
            svd, tail = batched_tile_svd(tiles), np.zeros(len(tiles))
        layouts.append(PlaneLayout(h, w, th, tw, weight))
        svds.append(svd)
        energies.append(energy)
        tails.append(tail)
        stacks.append(tiles)
    if fast_rank is None:
        return Analysis(pixels, layout, layouts, svds, energies, residual)
    return Analysis(pixels, layout, layouts, svds, energies, residual, tails, stacks)


def refine(analysis: Analysis, min_sigma: list[float]) -> None:
    """Exact SVDs, in place, for the tiles of a fast analysis whose last triplet found reaches
    `min_sigma[plane]`: only there can a further triplet be worth keeping (sigma_{k+1} <= sigma_k)."""
    if analysis.tails is None or analysis.tiles is None:
        return
    for index, (tail, floor) in enumerate(zip(analysis.tails, min_sigma, strict=True)):
        u, s, vt = analysis.svds[index]
        last = int(np.count_nonzero(s.any(axis=0))) - 1
        todo = np.flatnonzero((s[:, max(last, 0)] >= floor) & (tail > 0))
        if todo.size == 0:
            continue
        u[todo], s[todo], vt[todo] = batched_tile_svd(analysis.tiles[index][todo])
        tail[todo] = 0.0


def _whole_plane(a: np.ndarray, index: int, energy: float, need: RankNeed) -> Triplets:
    if isinstance(need, int):
        u, s, vt = truncated_svd(a, need)
    elif need is None:
        u, s, vt = truncated_svd(a, min(a.shape))
    else:
        u, s, vt = svd_until(a, lambda s: need(index, s, energy))
    return u[None], s[None], vt[None]
