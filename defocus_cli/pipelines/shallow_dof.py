"""Shallow depth of field from an all-in-focus photo and its depth (DeepLens-style rendering).

``shallow_dof(image_srgb, depth_inv_norm, focus_depth, blur_radius_px)`` renders the thin-lens
blur of DESIGN.md: CoC radius = K * (D - D_focus), D the normalized inverse depth (1 =
nearest). Helpers turn user depth files into that convention, and a focus point (or, without
one, the photo's centre subject: :func:`auto_focus_depth`) into a focus depth. Predicted depth
comes from :mod:`defocus_cli.pipelines.depth`; the learned lens is
:mod:`defocus_cli.pipelines.learned_lens`.
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
#: Automatic focus: Gaussian centre weighting (sigma as a fraction of each side), and the share
#: of the highest histogram peak a nearer peak needs to win (15 % keeps the nearest object
#: sharp in 76 % of held-out scenes with true depth, against 68 % at 30 %:
#: benchmarks/auto_focus.py, docs/MODELS.md).
AUTO_FOCUS_SIGMA_FRACTION = 0.15
AUTO_FOCUS_PEAK_SHARE = 0.15
#: With a subject map (the photo's subject weights, as ``shallow-dof`` runs it, or the depth
#: network's segmentation head): the least share of the frame it must mark to be used, and
#: the wider centre weighting it gets. A pixel is marked above half the map's peak, or half of
#: AUTO_FOCUS_MIN_SUBJECT_PEAK when the peak is lower (a map that never rises marks nothing).
AUTO_FOCUS_MIN_SUBJECT_SHARE = 0.01
AUTO_FOCUS_MIN_SUBJECT_PEAK = 0.5
AUTO_FOCUS_SUBJECT_SIGMA_FRACTION = 0.3
#: Depth samples per side at most for the automatic focus (a statistic, not a filter).
AUTO_FOCUS_SAMPLES = 256
_BINS = 64
#: ``--aperture`` sugar: f/2.8 is K = 2% of the long side (the default blur); K grows as 1/N.
APERTURE_REFERENCE_F_NUMBER = 2.8
APERTURE_REFERENCE_PERCENT = 2.0


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


def aperture_blur_radius(f_number: float, image_shape: tuple[int, ...]) -> float:
    """K in px for ``--aperture f/N``: (2.8 / N) x 2% of the long side, a look rather than
    optics (a photo does not tell its focal length or sensor size).

    >>> aperture_blur_radius(1.4, (3000, 4000))
    160.0
    """
    if not f_number > 0:
        raise ValueError(f"f-number must be positive, got {f_number}")
    percent = APERTURE_REFERENCE_PERCENT * APERTURE_REFERENCE_F_NUMBER / float(f_number)
    return percent / 100.0 * float(max(image_shape[0], image_shape[1]))


def widen_focus(depth_inv_norm: np.ndarray, focus_depth: float, focus_range: float) -> np.ndarray:
    """The depth with the band of width ``focus_range`` centred on ``focus_depth`` collapsed
    onto it, and everything beyond moved towards it by half the band: a thin-lens render of
    the result, CoC radius K * max(|D - D_focus| - range / 2, 0), keeps that band sharp and
    grows the blur from its edges as before (a lens's depth of field, widened). Either lens
    renders it; ``focus_range`` 0 returns the depth unchanged.

    >>> [round(float(v), 2) for v in widen_focus(np.array([[0.0, 0.45, 0.5, 0.6, 1.0]]), 0.5, 0.2)[0]]
    [0.1, 0.5, 0.5, 0.5, 0.9]
    """
    if not 0.0 <= focus_range <= 1.0:
        raise ValueError(f"focus range must be within [0, 1], got {focus_range}")
    depth = np.asarray(depth_inv_norm, np.float32)
    if focus_range == 0.0:
        return depth
    half = np.float32(focus_range / 2.0)
    offset = depth - np.float32(focus_depth)
    return (np.float32(focus_depth) + np.sign(offset) * np.maximum(np.abs(offset) - half, 0.0)).astype(np.float32)


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


def auto_focus_depth(depth_inv_norm: np.ndarray, subject: np.ndarray | None = None) -> float:
    """Default focus depth when neither a point nor a depth is given: the subject's depth.

    Without ``subject``, the nearest large region near the centre: the depth's histogram is
    weighted by a Gaussian around the image centre (sigma = 15% of each side) and smoothed.
    Its highest peak is the focus, unless a nearer, separate peak (the histogram dips below
    half its height in between) reaches 15% of it: then the nearest such peak wins, so a
    subject standing in front of a background is chosen even where the background fills more
    of the centre, while a slanted ground (no dip) keeps the centre's depth. The focus is the
    median of the central depths within two bins of that peak.

    ``subject`` (HxW in [0, 1], any resolution: resized to the depth's) says how likely each
    pixel is to belong to the subject: the photo's subject weights
    (:func:`~defocus_cli.ops.saliency.subject_weights`, what ``shallow-dof`` passes), or a
    depth network's segmentation head. Where it marks (above half its peak) at least
    :data:`AUTO_FOCUS_MIN_SUBJECT_SHARE` of the frame, it multiplies the weights, and the
    centre weighting widens to :data:`AUTO_FOCUS_SUBJECT_SIGMA_FRACTION` (a subject need not
    be central); otherwise it is ignored.

    >>> d = np.full((60, 90), 0.2, np.float32); d[20:40, 35:55] = 0.7
    >>> round(auto_focus_depth(d), 2)
    0.7
    >>> s = np.zeros_like(d); s[:10, :10] = 1; d[:10, :10] = 0.4
    >>> round(auto_focus_depth(d, subject=s), 2)
    0.4
    """
    check_map(depth_inv_norm, "depth_inv_norm")
    h, w = depth_inv_norm.shape
    step = max(1, -(-max(h, w) // AUTO_FOCUS_SAMPLES))
    values = np.clip(np.nan_to_num(np.asarray(depth_inv_norm[::step, ::step], np.float32), nan=0.0), 0.0, 1.0)
    mask = None
    if subject is not None:
        check_map(subject, "subject")
        mask = cv2.resize(np.asarray(subject, np.float32), (values.shape[1], values.shape[0]), interpolation=cv2.INTER_AREA)
        mask = np.clip(np.nan_to_num(mask, nan=0.0), 0.0, 1.0)
        # Relative to the peak: subject weights that halve featureless areas may stay below 1.
        marked = mask > 0.5 * max(float(mask.max()), AUTO_FOCUS_MIN_SUBJECT_PEAK)
        if np.mean(marked) < AUTO_FOCUS_MIN_SUBJECT_SHARE:
            mask = None
    sigma = AUTO_FOCUS_SIGMA_FRACTION if mask is None else AUTO_FOCUS_SUBJECT_SIGMA_FRACTION
    weights = _centre_weights(values.shape, sigma)
    if mask is None:
        central = weights > np.exp(-2.0)  # within two sigmas of the centre
    else:
        weights, central = weights * mask, marked
    hist, edges = np.histogram(values, bins=_BINS, range=(0.0, 1.0), weights=weights)
    # Wider than focus_depth_at's smoothing (Gaussian, 1.5 bins): a ramp sampled on a grid
    # fills the bins unevenly.
    taps = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
    hist = np.convolve(hist, taps / taps.sum(), mode="same")
    peak = int(np.argmax(hist))
    # A nearer cluster wins if it is large enough and really separate: the histogram dips
    # below half its height between it and the main peak (a slanted ground has no dip).
    for i in range(_BINS - 1, peak, -1):
        if hist[i] >= AUTO_FOCUS_PEAK_SHARE * hist[peak] and hist[peak : i + 1].min() < 0.5 * hist[i] \
                and hist[i] >= hist[i - 1] and (i == _BINS - 1 or hist[i] >= hist[i + 1]):
            peak = i
            break
    centre = 0.5 * (edges[peak] + edges[peak + 1])
    near = (np.abs(values - centre) < 2.0 / _BINS) & central
    return float(np.median(values[near])) if near.any() else float(centre)


def _centre_weights(shape: tuple[int, ...], sigma_fraction: float) -> np.ndarray:
    """Gaussian weights around the centre of an HxW grid, sigma a fraction of each side."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    cy, cx = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    sy, sx = max(sigma_fraction * shape[0], 0.5), max(sigma_fraction * shape[1], 0.5)
    return np.exp(-0.5 * (((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2))


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
