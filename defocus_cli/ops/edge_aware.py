"""Edge-aware smoothing of a map along a photo's colour edges: the domain transform's
recursive filter (Gastal & Oliveira, SIGGRAPH 2011).

A coarse map (a small network's depth) is blotchy inside objects and its values leak across
their outlines. Smoothing it in the photo's *domain transform*, where a pixel's distance to
its neighbour grows with the colour step between them, averages the map over large stretches
of one surface while a strong colour edge stops it. Unlike the guided filter's local linear
model it never copies the photo's texture into the map: the photo only decides how far each
value travels, not what the value is.

The filter runs as alternating horizontal and vertical one-dimensional passes, each a
normalized exponential kernel in the transformed domain (a causal and an anti-causal running
sum, divided by the same sums over ones, so the frame's ends are not over-weighted), over a
few iterations whose spatial sigma shrinks so the sum of their variances is
``sigma_spatial_px``^2. Each pass is a loop over one axis
with the other vectorized: meant for working-resolution maps (a few hundred pixels a side).
"""

from __future__ import annotations

import math

import numpy as np

from defocus_cli.ops.checks import check_image, check_map

#: Iterations of the horizontal+vertical pair: three leave no visible axis-aligned streaks.
DEFAULT_ITERATIONS = 3


def domain_transform_smooth(src: np.ndarray, guide: np.ndarray, sigma_spatial_px: float,
                            sigma_range: float, iterations: int = DEFAULT_ITERATIONS) -> np.ndarray:
    """Smooth ``src`` (HxW) along the edges of ``guide`` (HxW or HxWxC, same size).

    ``sigma_spatial_px``: how far values spread over a uniform area (px); ``sigma_range``:
    the colour step (in the guide's units, summed over channels) that counts as far as
    ``sigma_spatial_px`` of distance, so steps much larger than it stop the spread.
    Returns HxW float32; each output is a weighted mean of input values, so a constant map
    stays constant and the output never leaves the input's range.

    >>> guide = np.zeros((4, 8), np.float32); guide[:, 4:] = 1.0
    >>> out = domain_transform_smooth(np.tile(np.arange(8, dtype=np.float32), (4, 1)), guide, 50.0, 0.01)
    >>> bool(out[:, :4].max() < 2.0 and out[:, 4:].min() > 5.0)
    True
    """
    check_image(guide, "guide", channels=(1, 3))
    check_map(src, "src", guide.shape[:2])
    if not (math.isfinite(sigma_spatial_px) and sigma_spatial_px > 0):
        raise ValueError(f"sigma_spatial_px must be a positive number, got {sigma_spatial_px}")
    if not (math.isfinite(sigma_range) and sigma_range > 0):
        raise ValueError(f"sigma_range must be a positive number, got {sigma_range}")
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    colour = np.asarray(guide, np.float64)
    if colour.ndim == 2:
        colour = colour[..., None]
    out = np.array(src, np.float64)
    # Distance between neighbours in the transformed domain: 1 px plus the colour step
    # scaled so that sigma_range of colour weighs as much as sigma_spatial_px of space.
    stretch = sigma_spatial_px / sigma_range
    across = 1.0 + stretch * np.abs(np.diff(colour, axis=1)).sum(axis=2)  # H x W-1
    down = 1.0 + stretch * np.abs(np.diff(colour, axis=0)).sum(axis=2)    # H-1 x W
    for i in range(iterations):
        sigma_i = sigma_spatial_px * math.sqrt(3.0) * 2.0 ** (iterations - i - 1) / math.sqrt(4.0**iterations - 1.0)
        feedback = math.exp(-math.sqrt(2.0) / sigma_i)
        _recurse(out, np.power(feedback, across))
        _recurse(out.T, np.power(feedback, down).T)
    return out.astype(np.float32)


def _recurse(values: np.ndarray, weights: np.ndarray) -> None:
    """Smooth along axis 1 of ``values`` in place with the symmetric kernel whose weight
    between two pixels is the product of the ``weights`` between them (``weights[:, x]``
    couples columns x and x + 1), normalized by the same sum over ones: a causal and an
    anti-causal running sum, so the frame's ends pull no harder than any other pixel."""
    width = values.shape[1]
    summed = np.stack([values, np.ones_like(values)])  # [values, ones]: the kernel's sum and weight
    total = np.empty_like(summed)  # each pixel and everything before it
    ahead = np.zeros_like(summed)  # everything after each pixel
    total[:, :, 0] = summed[:, :, 0]
    for x in range(1, width):
        total[:, :, x] = weights[:, x - 1] * total[:, :, x - 1] + summed[:, :, x]
    for x in range(width - 2, -1, -1):
        ahead[:, :, x] = weights[:, x] * (ahead[:, :, x + 1] + summed[:, :, x + 1])
    values[...] = (total[0] + ahead[0]) / (total[1] + ahead[1])
