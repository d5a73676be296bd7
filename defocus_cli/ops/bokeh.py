"""Aperture shapes (the bokeh) and the options that name them.

A kernel is the image of a point through the lens: a uniformly lit disc, or an n-blade
polygon, of a given radius in pixels, anti-aliased at its rim and normalized to sum 1 (so
blurring conserves energy). The polygon's circumradius equals ``radius_px``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

# Sub-pixel samples per axis when measuring rim coverage; 8x8 keeps the rim smooth.
_SUPERSAMPLE = 8


@dataclass(frozen=True)
class Bokeh:
    """Aperture shape: ``blades == 0`` is a disc, otherwise an n-blade polygon rotated by
    ``rotation_deg`` (counter-clockwise, 0 = a vertex pointing up)."""

    blades: int = 0
    rotation_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.blades != 0 and not 3 <= self.blades <= 16:
            raise ValueError(f"a polygonal aperture needs 3 to 16 blades, got {self.blades}")

    @property
    def label(self) -> str:
        if self.blades == 0:
            return "disc"
        return f"poly:{self.blades},{self.rotation_deg:g}"


DISC = Bokeh()

_POLY = re.compile(r"^poly:(\d+)(?:,(-?\d+(?:\.\d*)?))?$")


def parse_bokeh(text: str) -> Bokeh:
    """Read ``--bokeh``: ``disc`` or ``poly:N[,DEG]`` (N blades, rotation in degrees).

    >>> parse_bokeh("poly:6,15")
    Bokeh(blades=6, rotation_deg=15.0)
    """
    value = str(text).strip().lower()
    if value == "disc":
        return DISC
    match = _POLY.match(value)
    if not match:
        raise ValueError(f"bokeh must be 'disc' or 'poly:N[,DEG]' (e.g. poly:6,15), got {text!r}")
    return Bokeh(int(match.group(1)), float(match.group(2) or 0.0))


def _inside(xs: np.ndarray, ys: np.ndarray, radius: float, bokeh: Bokeh) -> np.ndarray:
    if bokeh.blades == 0:
        return xs * xs + ys * ys <= radius * radius
    # A regular polygon is the intersection of n half-planes at the apothem distance.
    n = bokeh.blades
    apothem = radius * math.cos(math.pi / n)
    inside = np.ones(xs.shape, bool)
    base = math.radians(bokeh.rotation_deg) + math.pi / 2 + math.pi / n
    for k in range(n):
        angle = base + 2 * math.pi * k / n
        # Image rows grow downwards, so "up" is -y.
        inside &= xs * math.cos(angle) - ys * math.sin(angle) <= apothem
    return inside


def aperture_kernel(radius_px: float, bokeh: Bokeh = DISC) -> np.ndarray:
    """Anti-aliased aperture kernel of ``radius_px`` pixels, float32, odd square, sum 1.

    Radii below 0.5 px give the 1x1 identity (in focus, by the project's convention).

    >>> k = aperture_kernel(3.0)
    >>> k.shape, round(float(k.sum()), 6)
    ((7, 7), 1.0)
    """
    radius = float(abs(radius_px))
    if radius < 0.5:
        return np.ones((1, 1), np.float32)
    half = int(math.ceil(radius - 0.5))
    half = max(half, 1)
    size = 2 * half + 1
    offsets = (np.arange(_SUPERSAMPLE, dtype=np.float64) + 0.5) / _SUPERSAMPLE - 0.5
    grid = np.arange(-half, half + 1, dtype=np.float64)
    sub = (grid[:, None] + offsets[None, :]).reshape(-1)
    ys, xs = np.meshgrid(sub, sub, indexing="ij")
    inside = _inside(xs, ys, radius, bokeh).astype(np.float64)
    coverage = inside.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))
    return (coverage / coverage.sum()).astype(np.float32)
