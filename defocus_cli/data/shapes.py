"""Anti-aliased alpha shapes for scene layers: float32 HxW masks in [0, 1].

Ellipses, polygons, smooth blobs, dead-leaves stacks, thin strokes (stems, hair-like
curves) and the horse silhouette. Edges are one pixel soft, as a real object edge is.
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.data.photos import load_photo
from defocus_cli.data.textures import pink_noise

_SHIFT = 4  # cv2 drawing with 1/16 px sub-pixel precision
_ONE = 1 << _SHIFT


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * _ONE).astype(np.int32)


def ellipse(rng: np.random.Generator, size: tuple[int, int], scale: float = 0.25) -> np.ndarray:
    h, w = size
    mask = np.zeros(size, np.float32)
    centre = (int(rng.uniform(0.1, 0.9) * w * _ONE), int(rng.uniform(0.1, 0.9) * h * _ONE))
    r = min(h, w) * scale
    axes = (int(rng.uniform(0.4, 1.0) * r * _ONE), int(rng.uniform(0.4, 1.0) * r * _ONE))
    cv2.ellipse(mask, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA, _SHIFT)
    return mask


def polygon(rng: np.random.Generator, size: tuple[int, int], scale: float = 0.25) -> np.ndarray:
    h, w = size
    n = int(rng.integers(3, 8))
    centre = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h])
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = min(h, w) * scale * rng.uniform(0.5, 1.0, n)
    pts = centre + np.stack([np.cos(angles) * radii, np.sin(angles) * radii], 1)
    mask = np.zeros(size, np.float32)
    cv2.fillPoly(mask, [_fixed(pts)], 1.0, cv2.LINE_AA, _SHIFT)
    return mask


def blob(rng: np.random.Generator, size: tuple[int, int], scale: float = 0.3) -> np.ndarray:
    """A smooth organic blob: a low-pass noise field thresholded with a 1-px soft edge."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    r = min(h, w) * scale
    falloff = 1 - np.sqrt(((yy - cy) / r) ** 2 + ((xx - cx) / (r * rng.uniform(0.6, 1.4))) ** 2)
    field = falloff + (pink_noise(rng, size, 2.6) - 0.5) * 0.8
    gy, gx = np.gradient(field)
    slope = np.sqrt(gx * gx + gy * gy) + 1e-4
    return np.clip(field / slope + 0.5, 0, 1).astype(np.float32)


def dead_leaves(rng: np.random.Generator, size: tuple[int, int], count: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A dead-leaves stack: overlapping discs of power-law sizes, each its own colour.

    Returns (alpha HxW, label HxW int: which leaf is on top, -1 none) so the caller can
    colour the leaves.
    """
    h, w = size
    alpha = np.zeros(size, np.float32)
    label = np.full(size, -1, np.int32)
    r_min, r_max = 1.5, min(h, w) * 0.12
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    spread = min(h, w) * rng.uniform(0.15, 0.35)
    for i in range(count):
        # r ~ r^-3 density, the scale-invariant dead-leaves law
        u = rng.random()
        r = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5
        x, y = cx + rng.normal(0, spread), cy + rng.normal(0, spread)
        leaf = np.zeros(size, np.float32)
        cv2.circle(leaf, (int(x * _ONE), int(y * _ONE)), int(r * _ONE), 1.0, -1, cv2.LINE_AA, _SHIFT)
        alpha = leaf + alpha * (1 - leaf)
        label[leaf > 0.5] = i
    return alpha, label


def strokes(rng: np.random.Generator, size: tuple[int, int], count: int = 3,
            width: tuple[float, float] = (0.8, 3.0)) -> np.ndarray:
    """Thin curved strokes (stems, grass blades, hair): cubic Bezier curves of a few px width."""
    h, w = size
    mask = np.zeros(size, np.float32)
    t = np.linspace(0, 1, 64)[:, None]
    for _ in range(count):
        p0 = np.array([rng.uniform(0, w), rng.uniform(0.6, 1.1) * h])
        p3 = p0 + np.array([rng.normal(0, w * 0.15), -rng.uniform(0.3, 0.9) * h])
        p1 = p0 + (p3 - p0) / 3 + rng.normal(0, min(h, w) * 0.1, 2)
        p2 = p0 + 2 * (p3 - p0) / 3 + rng.normal(0, min(h, w) * 0.1, 2)
        curve = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
        thickness = rng.uniform(*width)
        if thickness < 1.5:
            # a sub-2-px line: draw 1 px wide and scale its coverage
            layer = np.zeros(size, np.float32)
            cv2.polylines(layer, [_fixed(curve)], False, 1.0, 1, cv2.LINE_AA, _SHIFT)
            layer *= thickness
        else:
            layer = np.zeros(size, np.float32)
            cv2.polylines(layer, [_fixed(curve)], False, 1.0, int(round(thickness)), cv2.LINE_AA, _SHIFT)
        mask = np.maximum(mask, np.clip(layer, 0, 1))
    return mask


def horse(rng: np.random.Generator, size: tuple[int, int], scale: float = 0.5) -> np.ndarray:
    """The CC0 horse silhouette, scaled, flipped and placed at random."""
    h, w = size
    sil = 1.0 - load_photo("horse")  # the photo is white background, black horse
    sh, sw = sil.shape
    factor = min(h, w) * scale * rng.uniform(0.6, 1.2) / max(sh, sw)
    small = cv2.resize(sil, (max(4, int(sw * factor)), max(4, int(sh * factor))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        small = small[:, ::-1]
    mask = np.zeros(size, np.float32)
    y0 = int(rng.uniform(-0.2, 0.8) * h)
    x0 = int(rng.uniform(-0.2, 0.8) * w)
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + small.shape[0], h), min(x0 + small.shape[1], w)
    if ye > ys and xe > xs:
        mask[ys:ye, xs:xe] = small[ys - y0:ye - y0, xs - x0:xe - x0]
    return mask


def random_shape(rng: np.random.Generator, size: tuple[int, int], scale: float = 0.25) -> np.ndarray:
    """A random closed shape (ellipse, polygon, blob or horse), alpha HxW float32."""
    kind = str(rng.choice(["ellipse", "polygon", "blob", "blob", "horse"], p=[0.3, 0.2, 0.2, 0.15, 0.15]))
    if kind == "ellipse":
        return ellipse(rng, size, scale)
    if kind == "polygon":
        return polygon(rng, size, scale)
    if kind == "horse":
        return horse(rng, size, scale * 2)
    return blob(rng, size, scale)
