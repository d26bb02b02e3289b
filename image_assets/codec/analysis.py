"""Stage 1 of an encode: colour transform, tiling and the SVD of every tile, plus the energy bookkeeping
the closed-form rank choice needs (discarded energy = tile energy - kept sigma^2).

Memory: an encode must stay within a few dozen bytes per pixel whatever the image (a review measured 77 on
a flat one), so the image is walked in bands of tile rows (`tiles.bands`): planes and tiles exist one band at
a time, and only the singular values of every tile are kept whole. The factors (U, V) are kept per band up to
`STORE_BYTES_PER_PIXEL`; a band past that budget (noise-like images, whose tiles keep all 16 triplets in three
or four full-resolution planes) is recomputed from the pixels whenever a trial or the writer needs it. Every
tile's SVD depends on that tile alone, so a recomputed band has exactly the bits of a stored one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from image_assets.codec.decoder import plane_geometry
from image_assets.codec.heap import HeapTrimmer
from image_assets.codec.planes import PlaneSource
from image_assets.codec.quant import PlaneLayout, dct_axis
from image_assets.codec.svd import Triplets, exact_svd, exact_tile_svd, svd_until, topk_compact, truncated_svd
from image_assets.codec.threads import parallel_map, worker_count
from image_assets.codec.tiles import Band, bands, to_tiles

_BOOKKEEPING = threading.Lock()  # the factor budget, when bands are computed on several threads (`codec_threads`)
STORE_BYTES_PER_PIXEL = 13  # factors kept between trials: a 4:2:0 image needs at most 12 (flat: every tile exact)
PAYLOAD_BYTES_PER_PIXEL = 2  # how far a search's payload buffers may go past that before factors make room
STORE_MIN_BYTES = 1 << 22  # small images always keep theirs


@dataclass(frozen=True)
class Layout:
    """How an image is cut up: colour model and square tile side (None: one tile per plane)."""

    color: str
    tile: int | None

    def describe(self) -> str:
        return f"{self.color}/{'whole' if self.tile is None else f'tile{self.tile}'}"


@dataclass
class Factors:
    """One band's U and Vt: the factors of its tiles (top-k ones in a fast analysis, else all), and full ones
    for the tiles `refine` then solved exactly (`exact`: band-local indices)."""

    u: np.ndarray
    vt: np.ndarray
    exact: np.ndarray | None = None
    exact_u: np.ndarray | None = None
    exact_vt: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        arrays = (self.u, self.vt, self.exact, self.exact_u, self.exact_vt)
        return sum(a.nbytes for a in arrays if a is not None)

    def kernel_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(U, Vt, slot, exact U, exact Vt) as `kernels.quantize_tiles` takes them: slot[t] is tile t's row in the
        exact factors, or -1."""
        count, m, _k = self.u.shape
        slot = np.full(count, -1, np.int64)
        if self.exact is None or self.exact_u is None or self.exact_vt is None:
            return (
                self.u,
                self.vt,
                slot,
                np.zeros((0, m, 1), np.float32),
                np.zeros((0, 1, self.vt.shape[2]), np.float32),
            )
        slot[self.exact] = np.arange(self.exact.size)
        return self.u, self.vt, slot, self.exact_u, self.exact_vt


@dataclass
class PlaneSVD:
    """The singular values of every tile of a plane, and its factors band by band (None: recompute)."""

    s: np.ndarray  # (T, k), zero beyond the triplets found
    parts: list[Factors | None]
    fast_rank: int | None  # tiles found by `topk_compact` first (None: every tile exactly)
    exact: np.ndarray | None = None  # (T,) bool: fast tiles `refine` solved exactly (every triplet)


@dataclass
class Analysis:
    """Everything the rank choice needs; the SVDs are computed once per encode (or per band, past the budget)."""

    pixels: np.ndarray
    layout: Layout
    layouts: list[PlaneLayout]
    svds: list[PlaneSVD]
    energies: list[np.ndarray]  # (T,) squared Frobenius norm of each tile
    residual: float  # weighted squared error of chroma subsampling alone
    tails: list[np.ndarray] | None = None  # fast analysis: energy outside the triplets found, per tile
    source: PlaneSource | None = None
    bands: list[Band] = field(default_factory=list)
    budget: int = 0  # bytes of factors kept when no payload is being written
    stored: int = 0
    reserved: int = 0  # payload bytes a search write holds beyond the allowance (they shrink the budget)
    floors: list[float] | None = None  # per plane, a sigma no step keeps (None: fixed ranks may keep any)
    heap: HeapTrimmer | None = None  # the encode's trims of freed memory (see `heap`)

    @property
    def samples(self) -> int:
        return int(self.pixels.size)

    def total_energy(self) -> float:
        return float(sum(lay.weight * float(e.sum()) for lay, e in zip(self.layouts, self.energies, strict=True)))

    def part(self, index: int, band: int, *, keep: bool = True) -> Factors:
        """The factors of the tiles of plane `index` in band `band`, stored or recomputed (same bits either way); a
        recomputed band is kept if the budget has room again (`keep`)."""
        part = self.svds[index].parts[band]
        if part is None:
            part = self._recompute(index, band)
            if keep:
                self.svds[index].parts[band] = self.keep(part)
        return part

    def reserve(self, nbytes: int) -> None:
        """A search write is about to hold `nbytes` of payload buffers: past the allowance they come out of the
        factors' budget, dropping stored bands (the last planes' first) until it holds; 0 when it is done."""
        height, width = self.pixels.shape[:2]
        self.reserved = max(0, nbytes - PAYLOAD_BYTES_PER_PIXEL * height * width)
        for index in reversed(range(len(self.svds))):
            for band in reversed(range(len(self.bands))):
                if self.stored <= self.budget - self.reserved:
                    return
                self.release(index, band)

    def release(self, index: int, band: int) -> None:
        """Forget a band's stored factors (the final write needs each band once)."""
        with _BOOKKEEPING:
            part = self.svds[index].parts[band]
            if part is not None:
                self.stored -= part.nbytes
                self.svds[index].parts[band] = None

    def keep(self, part: Factors, replaces: Factors | None = None) -> Factors | None:
        """`part` if the budget has room for it (in place of `replaces`), else None: recompute when needed."""
        with _BOOKKEEPING:
            freed = replaces.nbytes if replaces is not None else 0
            if self.stored - freed + part.nbytes > self.budget - self.reserved:
                self.stored -= freed
                return None
            self.stored += part.nbytes - freed
            return part

    def band_tiles(self, index: int, band: Band) -> np.ndarray:
        return self.rows_tiles(index, *band.rows[index])

    def rows_tiles(self, index: int, start: int, stop: int) -> np.ndarray:
        """Every tile of plane rows start..stop (whole tile rows; several bands at once), in one pass: a luma
        plane's straight from the pixels, without its rows in between."""
        assert self.source is not None
        lay = self.layouts[index]
        return self.source.all_tiles(index, start, stop, (lay.tile_h, lay.tile_w))

    def tiles_at(self, index: int, start: int, stop: int, local: np.ndarray) -> np.ndarray:
        """`rows_tiles(index, start, stop)[local]` without cutting up the rest of those rows (the same values)."""
        assert self.source is not None
        lay = self.layouts[index]
        return self.source.tiles(index, start, stop, (lay.tile_h, lay.tile_w), local)

    def _recompute(self, index: int, band_index: int) -> Factors:
        plane, band = self.svds[index], self.bands[band_index]
        tiles = self.band_tiles(index, band)
        first, last = band.tiles[index]
        s = plane.s[first:last]
        if plane.fast_rank is None:
            u, _s, vt = _exact(tiles, single=len(plane.s) == 1)
            return Factors(*self.prune(index, u, vt, s))
        assert plane.exact is not None
        exact = np.flatnonzero(plane.exact[first:last])
        if exact.size == len(tiles):  # every tile exact (noise): the top-k pass would be overwritten
            u, _s, vt = exact_tile_svd(tiles, dct=True)
            return Factors(*self.prune(index, u, vt, s))
        (u, _s, vt), _tail = topk_compact(tiles, plane.fast_rank, dct=True)
        u, vt = self.prune(index, u, vt, s)
        if exact.size == 0:
            return Factors(u, vt)
        exact_u, _s, exact_vt = exact_tile_svd(tiles[exact], dct=True)
        return Factors(u, vt, exact, *self.prune(index, exact_u, exact_vt, s[exact]))

    def prune(self, index: int, u: np.ndarray, vt: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The factors as stored: trailing triplets (columns of U, rows of Vt) that no tile of these can keep
        dropped (a flat or smooth tile keeps 1-3 of its 16, an opaque alpha plane 1; `s`: the tiles' singular
        values). The vectors come in the DCT domain that format v3 stores them in (the kernels give them so, once,
        not per trial). Always arrays of their own, so a band's factors can be released on their own: the
        kernels' arrays stay as they are, a pruned view is copied out of them."""
        if self.floors is not None:
            # each tile's values descend, so the widest tile's count is the number of columns whose largest value
            # reaches the floor (a column reduction: ~16 us a band faster than counting per tile)
            width = int(np.count_nonzero(s[:, : u.shape[2]].max(axis=0) >= self.floors[index])) if len(s) else 0
            if width < u.shape[2]:
                u, vt = u[:, :, :width], vt[:, :width, :]
        return (u if u.base is None else u.copy()), (vt if vt.base is None else vt.copy())


# For a whole-plane SVD the caller says how many triplets it needs, as a rank or as a test on the
# singular values found so far (plane index, singular values, plane energy) -> enough?
RankNeed = int | Callable[[int, np.ndarray, float], bool] | None


def analyze(
    pixels: np.ndarray,
    layout: Layout,
    need: RankNeed = None,
    source: PlaneSource | None = None,
    *,
    fast_rank: int | None = None,
    floors: Callable[[list[PlaneLayout]], list[float]] | None = None,
    heap: HeapTrimmer | None = None,
) -> Analysis:
    """SVD every tile of every plane; `source` may pass in the image's planes already set up.

    With `fast_rank`, tiled planes get only their leading `fast_rank` triplets (one fewer beyond the first plane)
    by batched subspace iteration; `Analysis.tails` then says which tiles may need more (see `refine`). Chroma
    tiles keep fewer triplets than luma, but with half as many (3) a quarter of them needed the exact solve at
    35 dB, which costs ~6x a top-5 tile: 5 took the refinement at 12 MP from ~75 to ~47 ms. With `floors`
    (ranks chosen by a step, see `selection.keep_floors`), triplets no step can keep are not stored."""
    source = source if source is not None else PlaneSource(pixels, layout.color)
    height, width = pixels.shape[:2]
    layouts = []
    for (h, w), weight in zip(source.shapes, source.weights, strict=True):
        th, tw = (h, w) if layout.tile is None else (min(layout.tile, h), min(layout.tile, w))
        layouts.append(PlaneLayout(h, w, th, tw, weight))
    analysis = Analysis(
        pixels,
        layout,
        layouts,
        [],
        [],
        source.residual,
        source=source,
        bands=bands(plane_geometry(layouts, layout.color, source.channels), height, width),
        budget=max(STORE_BYTES_PER_PIXEL * height * width, STORE_MIN_BYTES),
        floors=floors(layouts) if floors is not None else None,
        heap=heap,
    )
    fast_ranks = {
        index: fast_rank if index == 0 else max(1, fast_rank - 1)  # chroma and alpha keep fewer triplets
        for index, lay in enumerate(layouts)
        if layout.tile is not None and fast_rank is not None and min(lay.tile_h, lay.tile_w) > fast_rank
    }
    fast = _fast_planes(analysis, fast_ranks)
    tails = []
    for index in range(len(layouts)):
        if layout.tile is None:
            plane, energy, tail = _whole_plane(analysis, index, need)
        elif index in fast:
            plane, energy, tail = fast.pop(index)
        else:
            plane, energy, tail = _exact_plane(analysis, index)
        analysis.svds.append(plane)
        analysis.energies.append(energy)
        tails.append(tail)
    if fast_rank is not None:
        analysis.tails = tails
    return analysis


def _whole_plane(analysis: Analysis, index: int, need: RankNeed) -> tuple[PlaneSVD, np.ndarray, np.ndarray]:
    lay = analysis.layouts[index]
    assert analysis.source is not None
    tiles = to_tiles(analysis.source.rows(index, 0, lay.height), lay.tile_h, lay.tile_w)
    energy = np.einsum("tij,tij->t", tiles, tiles, dtype=np.float64)
    a = tiles[0]
    if isinstance(need, int):
        u, s, vt = truncated_svd(a, need)
    elif need is None:
        u, s, vt = truncated_svd(a, min(a.shape))
    else:
        check = need
        u, s, vt = svd_until(a, lambda s: check(index, s, float(energy[0])))
    del tiles, a
    # Copies: a truncated SVD returns views that would keep the full U and Vt of an exact SVD alive.
    part = Factors(dct_axis(u[None], 1), dct_axis(vt[None], 2))
    del u, vt
    analysis.stored += part.nbytes  # one tile per plane: kept whatever the budget (recomputing means a new search)
    return PlaneSVD(s[None], [part], None), energy, np.zeros(1)


def _exact_plane(analysis: Analysis, index: int) -> tuple[PlaneSVD, np.ndarray, np.ndarray]:
    lay = analysis.layouts[index]
    count = lay.tiles
    s = np.zeros((count, min(lay.tile_h, lay.tile_w)), np.float32)
    energy = np.empty(count)
    parts: list[Factors | None] = []
    for band in analysis.bands:
        first, last = band.tiles[index]
        tiles = analysis.band_tiles(index, band)
        energy[first:last] = np.einsum("tij,tij->t", tiles, tiles, dtype=np.float64)
        u, s[first:last], vt = _exact(tiles, single=count == 1)
        parts.append(analysis.keep(Factors(*analysis.prune(index, u, vt, s[first:last]))))
    return PlaneSVD(s, parts, None), energy, np.zeros(count)


def _fast_planes(analysis: Analysis, ranks: dict[int, int]) -> dict[int, tuple[PlaneSVD, np.ndarray, np.ndarray]]:
    """The leading `ranks[index]` triplets of every tile of those planes. The groups of all planes share one pool of
    threads: a 4:2:0 image's chroma planes hold one group each at 1080p, which alone would leave a second thread
    idle (plane by plane, 2 threads took the stage from 40 to 37 ms)."""
    arrays = {}
    for index in ranks:
        lay = analysis.layouts[index]
        arrays[index] = (
            np.zeros((lay.tiles, min(lay.tile_h, lay.tile_w)), np.float32),
            np.empty(lay.tiles),
            np.empty(lay.tiles),
        )

    def solve(item: tuple[int, list[int]]) -> list[Factors | None]:
        """One group of one plane's bands (threads take whole groups: their tiles, sums and factors are disjoint)."""
        index, group = item
        s, energy, tail = arrays[index]
        top, bottom = analysis.bands[group[0]], analysis.bands[group[-1]]
        first, last = top.tiles[index][0], bottom.tiles[index][1]
        tiles = analysis.rows_tiles(index, top.rows[index][0], bottom.rows[index][1])
        (u, s_fast, vt), tail[first:last] = topk_compact(tiles, ranks[index], dct=True, energy=energy[first:last])
        del tiles
        s[first:last, : s_fast.shape[1]] = s_fast
        out = []
        whole = len(group) == 1  # the kernel's own arrays are the band's: nothing to copy unless pruned
        for b in group:
            lo, hi = (t - first for t in analysis.bands[b].tiles[index])
            u_band, vt_band = (u, vt) if whole else (u[lo:hi], vt[lo:hi])
            u_band, vt_band = analysis.prune(index, u_band, vt_band, s[first + lo : first + hi])
            out.append(analysis.keep(Factors(u_band, vt_band)))
        return out

    items = [(index, group) for index in ranks for group in _groups(analysis, index)]
    parts: dict[int, list[Factors | None]] = {index: [] for index in ranks}
    for (index, _group), group_parts in zip(items, parallel_map(solve, items), strict=True):
        parts[index].extend(group_parts)
    return {
        index: (PlaneSVD(s, parts[index], ranks[index], exact=np.zeros(s.shape[0], bool)), energy, tail)
        for index, (s, energy, tail) in arrays.items()
    }


TOPK_GROUP_TILES = 2048  # the subspace iteration runs on at least this many tiles at once (its cost is per call)


def _groups(analysis: Analysis, index: int) -> list[list[int]]:
    """Consecutive bands holding about TOPK_GROUP_TILES tiles of plane `index` together."""
    sizes = [band.tiles[index][1] - band.tiles[index][0] for band in analysis.bands]
    return _consecutive(list(range(len(sizes))), sizes, TOPK_GROUP_TILES)


def _consecutive[T](items: list[T], sizes: list[int], limit: int) -> list[list[T]]:
    """`items` in order, cut into runs: a run ends once its sizes add up to `limit` or more."""
    groups: list[list[T]] = [[]]
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if total >= limit:
            groups.append([])
            total = 0
        groups[-1].append(item)
        total += size
    return groups


EXACT_GROUP_TILES = 2048  # tiles per call of the exact kernel: few calls, and memory that does not grow with the image


def refine(analysis: Analysis, min_sigma: list[float]) -> int:
    """Every triplet (exact), in place, for the tiles of a fast analysis whose last triplet found reaches
    `min_sigma[plane]` (only there can a further one be worth keeping: sigma_{k+1} <= sigma_k). Tiles already exact
    are skipped, so the encoder calls it before every trial. Returns how many tiles it solved.

    A middle step (10 triplets by subspace iteration) cost as much per tile as the exact solve (~17 us on 16 x 16:
    its Jacobi step grows with k^3) and then often needed the exact solve as well, so there is none. The tiles of
    consecutive bands go to the kernel together (up to EXACT_GROUP_TILES, at least one group per thread): band by
    band, a 1080p encode made 37 calls of ~25 tiles, and each batch of 8 lanes waits for its slowest tile."""
    tails = analysis.tails
    if tails is None:
        return 0
    work: list[tuple[int, list[tuple[int, np.ndarray]]]] = []  # (plane, its bands' tiles to solve in one call)
    for index, (tail, floor) in enumerate(zip(tails, min_sigma, strict=True)):
        plane = analysis.svds[index]
        if plane.exact is None or plane.fast_rank is None:
            continue
        need = _todo(plane, tail, floor)
        if need.size == 0:
            continue
        firsts = np.array([band.tiles[index][0] for band in analysis.bands])
        owner = np.searchsorted(firsts, need, side="right") - 1  # the band of each tile
        bands = [(int(b), need[owner == b] - firsts[b]) for b in np.unique(owner)]
        size = min(EXACT_GROUP_TILES, -(-need.size // worker_count()))
        work += [(index, group) for group in _consecutive(bands, [local.size for _b, local in bands], size)]

    def solve_exact(item: tuple[int, list[tuple[int, np.ndarray]]]) -> int:
        """Consecutive bands' tiles of one plane in one kernel call (threads take whole groups, of every plane at
        once: their tiles, sums and factors are disjoint)."""
        index, group = item
        plane, tail = analysis.svds[index], tails[index]
        s, exact = plane.s, plane.exact
        assert exact is not None
        top, bottom = analysis.bands[group[0][0]], analysis.bands[group[-1][0]]
        base = top.tiles[index][0]
        wanted = np.concatenate([analysis.bands[b].tiles[index][0] - base + local for b, local in group])
        tiles = analysis.tiles_at(index, top.rows[index][0], bottom.rows[index][1], wanted)
        exact_u, exact_s, exact_vt = exact_tile_svd(tiles, dct=True)
        del tiles
        start = 0
        for band_index, local in group:
            part = slice(start, start + local.size)
            start += local.size
            at = analysis.bands[band_index].tiles[index][0] + local
            tail[at] = 0.0
            s[at] = 0.0
            s[at, : exact_s.shape[1]] = exact_s[part]
            exact[at] = True
            u, vt = analysis.prune(index, exact_u[part], exact_vt[part], s[at])
            old = plane.parts[band_index]
            if old is not None:
                plane.parts[band_index] = analysis.keep(_with_exact(old, local, u, vt), replaces=old)
        return start

    return sum(parallel_map(solve_exact, work))


def _todo(plane: PlaneSVD, tail: np.ndarray, floor: float) -> np.ndarray:
    """The plane's tiles that need every triplet: not yet exact, their last fast triplet reaches `floor`, and energy
    is left."""
    assert plane.exact is not None and plane.fast_rank is not None
    last = plane.s[:, plane.fast_rank - 1]
    return np.flatnonzero(~plane.exact & (last >= floor) & (tail > 0))


def _with_exact(part: Factors, local: np.ndarray, exact_u: np.ndarray, exact_vt: np.ndarray) -> Factors:
    """`part` with the factors of tiles `local` (band-local, sorted) replaced by exact ones."""
    if part.exact is not None and part.exact_u is not None and part.exact_vt is not None:
        keep = ~np.isin(part.exact, local)
        local, exact_u, exact_vt = _join(
            part.exact[keep], part.exact_u[keep], part.exact_vt[keep], local, exact_u, exact_vt
        )
    if local.size == part.u.shape[0] and exact_u.shape[2] >= part.u.shape[2]:
        return Factors(exact_u, exact_vt)
    return Factors(part.u, part.vt, local, exact_u, exact_vt)


def _join(
    first: np.ndarray,
    first_u: np.ndarray,
    first_vt: np.ndarray,
    then: np.ndarray,
    then_u: np.ndarray,
    then_vt: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact tiles of a band from two refine calls, as one set sorted by tile (narrower factors zero-padded)."""
    width = max(first_u.shape[2], then_u.shape[2])
    u = np.zeros((first.size + then.size, first_u.shape[1], width), np.float32)
    vt = np.zeros((first.size + then.size, width, first_vt.shape[2]), np.float32)
    u[: first.size, :, : first_u.shape[2]], vt[: first.size, : first_vt.shape[1]] = first_u, first_vt
    u[first.size :, :, : then_u.shape[2]], vt[first.size :, : then_vt.shape[1]] = then_u, then_vt
    tiles = np.concatenate([first, then])
    order = np.argsort(tiles, kind="stable")
    return tiles[order], u[order], vt[order]


def _exact(tiles: np.ndarray, *, single: bool) -> Triplets:
    """Every triplet of the tiles (the vectors' DCT, as stored), as `batched_tile_svd` finds them for the whole
    set they belong to: LAPACK gesdd when that set is one tile, the compiled Jacobi path otherwise (even for a band
    holding one of them)."""
    if single:
        u, s, vt = exact_svd(tiles[0])
        return dct_axis(u[None], 1), s[None], dct_axis(vt[None], 2)
    return exact_tile_svd(tiles, dct=True)
