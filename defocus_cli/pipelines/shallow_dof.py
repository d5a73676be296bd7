"""Shallow depth of field from an all-in-focus photo and its depth (DeepLens-style rendering).

``shallow_dof(image_srgb, depth_inv_norm, focus_depth, blur_radius_px)`` renders the thin-lens
blur of DESIGN.md: CoC radius = K * (D - D_focus), D the normalized inverse depth (1 =
nearest). Helpers turn user depth files into that convention and a focus point into a focus
depth. The learned depth model (a later addition) plugs in before this.
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.errors import InputError
from defocus_cli.ops.bokeh import DISC, Bokeh
from defocus_cli.ops.checks import check_image, check_map
from defocus_cli.ops.lens import signed_coc_radius
from defocus_cli.ops.render import DEFAULT_HIGHLIGHTS
from defocus_cli.pipelines._render import render_srgb

#: Relative aspect-ratio mismatch tolerated between a depth map and its photo (rounding).
ASPECT_TOLERANCE = 0.02
#: Half-side of the window around a focus point, as a fraction of the long side.
FOCUS_WINDOW_FRACTION = 0.02


def metric_to_inverse_depth(depth_metric: np.ndarray) -> np.ndarray:
    """Metric depth (any unit, > 0; 0 or non-finite = unknown) -> normalized inverse depth
    in [0, 1], 1 = nearest. Unknown pixels become 0 (farthest)."""
    z = np.asarray(depth_metric, np.float32)
    valid = np.isfinite(z) & (z > 0)
    if not valid.any():
        raise InputError("metric depth map has no positive values")
    inv = np.zeros_like(z)
    inv[valid] = 1.0 / z[valid]
    lo, hi = float(inv[valid].min()), float(inv[valid].max())
    out = (inv - lo) / (hi - lo) if hi > lo else np.where(valid, 1.0, 0.0)
    return np.where(valid, out, 0.0).astype(np.float32)


def prepare_depth(depth: np.ndarray, image_shape: tuple[int, ...], kind: str = "inverse") -> np.ndarray:
    """Bring a loaded depth map to the photo: convert ``kind`` ('inverse' = normalized
    inverse depth, 'metric'), check the aspect ratio, resize to HxW. Returns float32 HxW in
    [0, 1]. Raises :class:`InputError` when the aspect ratios differ."""
    check_map(depth, "depth")
    h, w = int(image_shape[0]), int(image_shape[1])
    dh, dw = depth.shape
    if abs((dw / dh) / (w / h) - 1.0) > ASPECT_TOLERANCE:
        raise InputError(
            f"depth map is {dw}x{dh} but the image is {w}x{h}: aspect ratios differ "
            "(crop or rotate the depth map to match the displayed image)"
        )
    if kind == "metric":
        depth = metric_to_inverse_depth(depth)
    elif kind != "inverse":
        raise ValueError(f"depth kind must be 'inverse' or 'metric', got {kind!r}")
    depth = np.nan_to_num(np.asarray(depth, np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    if (dh, dw) != (h, w):
        shrink = dh > h
        depth = cv2.resize(depth, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.clip(depth, 0.0, 1.0).astype(np.float32)


def focus_depth_at(depth_inv_norm: np.ndarray, x: float, y: float) -> float:
    """Focus depth for a point (x, y in pixels of the depth/photo): the dominant depth
    cluster in a window around it (the histogram peak, refined by the median of the values
    near it), so a point on a subject focuses the whole subject even near its edge."""
    check_map(depth_inv_norm, "depth_inv_norm")
    h, w = depth_inv_norm.shape
    if not (0 <= x < w and 0 <= y < h):
        raise InputError(f"focus point ({x:g}, {y:g}) lies outside the {w}x{h} image")
    half = max(3, int(round(FOCUS_WINDOW_FRACTION * max(h, w))))
    xi, yi = int(x), int(y)
    window = depth_inv_norm[max(0, yi - half) : yi + half + 1, max(0, xi - half) : xi + half + 1]
    yy, xx = np.mgrid[max(0, yi - half) : max(0, yi - half) + window.shape[0], max(0, xi - half) : max(0, xi - half) + window.shape[1]]
    # Gaussian weights: the clicked spot counts most, the rest of the window votes.
    weights = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * (half / 2) ** 2)).ravel()
    values = window.ravel()
    hist, edges = np.histogram(values, bins=64, range=(0.0, 1.0), weights=weights)
    hist = np.convolve(hist, [0.25, 0.5, 0.25], mode="same")
    peak = 0.5 * (edges[int(np.argmax(hist))] + edges[int(np.argmax(hist)) + 1])
    near = np.abs(values - peak) < 2.0 / 64
    return float(np.median(values[near])) if near.any() else float(peak)


def shallow_dof(
    image_srgb: np.ndarray,
    depth_inv_norm: np.ndarray,
    focus_depth: float,
    blur_radius_px: float,
    *,
    bokeh: Bokeh = DISC,
    highlights: tuple[float, float] | None = DEFAULT_HIGHLIGHTS,
    grain: bool = True,
) -> np.ndarray:
    """Render a shallow depth of field: HxWx3 float32 sRGB in [0, 1].

    ``image_srgb``: HxWx3 float32 sRGB [0, 1], all in focus. ``depth_inv_norm``: HxW in
    [0, 1], 1 = nearest. ``focus_depth``: D_focus in [0, 1]. ``blur_radius_px``: K.
    """
    check_image(image_srgb, "image_srgb", channels=(3,))
    check_map(depth_inv_norm, "depth_inv_norm", image_srgb.shape[:2])
    coc = signed_coc_radius(depth_inv_norm, focus_depth, blur_radius_px)
    return render_srgb(image_srgb, coc, bokeh=bokeh, highlights=highlights, grain=grain)
