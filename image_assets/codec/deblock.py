"""Format v3's deblocking filter: hides the tile grid of the decoded image (numba, in place on uint8 pixels).

Each 16x16 tile is approximated on its own, so neighbouring tiles meet with a small step even where the image is
smooth, and the eye finds that grid at low rates. Across every tile edge the filter measures the jump left over
after the local slope is accounted for. A jump below `EDGE` x strength is a coding artefact, not a real edge:
where both sides are smooth it is spread as a linear ramp over 4 pixels each side, elsewhere only the two pixels
at the edge move, by at most strength / 2. Vertical edges first, then horizontal ones (a pixel lies within 4 of
at most one edge in each direction, so the result does not depend on the order edges are visited).

The strength comes from the header (the encoder sets it from the quantisation step and measures the PSNR with
the filter applied), so decoders need no tuning of their own.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EDGE = 2.0  # jumps below EDGE x strength are filtered
FLAT = 1.0  # both sides count as smooth when their 3-pixel variation is below FLAT x strength
RAMP = (4.0 / 9.0, 3.0 / 9.0, 2.0 / 9.0, 1.0 / 9.0)


@njit(cache=True, inline="always")
def _filter_line(line, strength):
    """`line` holds 8 float values p3 p2 p1 p0 q0 q1 q2 q3 across one edge; filtered in place."""
    p0, p1, p2 = line[3], line[2], line[1]
    q0, q1, q2 = line[4], line[5], line[6]
    slope = 0.5 * ((p0 - p1) + (q1 - q0))
    jump = (q0 - p0) - slope
    if abs(jump) >= EDGE * strength or jump == 0.0:
        return
    if abs(p2 - p0) + abs(q2 - q0) < FLAT * strength:
        line[3] += jump * (4.0 / 9.0)
        line[2] += jump * (3.0 / 9.0)
        line[1] += jump * (2.0 / 9.0)
        line[0] += jump * (1.0 / 9.0)
        line[4] -= jump * (4.0 / 9.0)
        line[5] -= jump * (3.0 / 9.0)
        line[6] -= jump * (2.0 / 9.0)
        line[7] -= jump * (1.0 / 9.0)
    else:
        limit = 0.5 * strength
        delta = min(max(0.25 * jump, -limit), limit)
        line[3] += delta
        line[4] -= delta


@njit(cache=True)
def deblock(pixels, channels, grid_h, grid_w, strength):
    """Filter every tile edge of the first `channels` channels of an HxWxC uint8 image, in place."""
    height, width = pixels.shape[0], pixels.shape[1]
    line = np.empty(8, np.float32)
    if strength <= 0.0:
        return
    for x in range(grid_w, width - 3, grid_w):
        if x < 4:
            continue
        for y in range(height):
            for c in range(channels):
                for i in range(8):
                    line[i] = pixels[y, x - 4 + i, c]
                _filter_line(line, strength)
                for i in range(8):
                    pixels[y, x - 4 + i, c] = min(max(np.rint(line[i]), 0.0), 255.0)
    for y in range(grid_h, height - 3, grid_h):
        if y < 4:
            continue
        for x in range(width):
            for c in range(channels):
                for i in range(8):
                    line[i] = pixels[y - 4 + i, x, c]
                _filter_line(line, strength)
                for i in range(8):
                    pixels[y - 4 + i, x, c] = min(max(np.rint(line[i]), 0.0), 255.0)


def apply(pixels: np.ndarray, grid: tuple[int, int], strength: float) -> None:
    """Deblock decoded pixels (HxW or HxWxC uint8) in place; alpha is left alone."""
    if strength <= 0:
        return
    hwc = pixels[:, :, None] if pixels.ndim == 2 else pixels
    colour = 3 if hwc.shape[2] >= 3 else 1
    deblock(hwc, colour, grid[0], grid[1], np.float32(strength))
