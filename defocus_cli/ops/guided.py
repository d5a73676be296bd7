"""Guided filter and joint guided upsampling (He, Sun & Tang, "Guided Image Filtering", 2010/2013;
He & Sun, "Fast Guided Filter", 2015).

The output is locally a linear function of the guide, ``q = a * I + b``, fitted over square
windows of side ``2 * radius + 1`` px, so edges of the guide (a photo) carry over into a
smooth map (defocus, depth, mask). ``eps`` is the regularization in the guide's units
squared (for [0, 1] images, 1e-4..1e-2: smaller keeps finer edges).

All box sums use OpenCV's O(1)-per-pixel box filter, so cost does not depend on the radius.
Joint upsampling writes its full-resolution output in bands of :data:`BAND_ROWS` rows, so
its working memory beyond the guide and the output stays a few bands on a 24 MP photo.
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.ops.checks import check_image, check_map

#: Full-resolution rows :func:`guided_upsample` computes at a time.
BAND_ROWS = 256


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    size = 2 * int(radius) + 1
    return cv2.boxFilter(x, cv2.CV_32F, (size, size), normalize=True, borderType=cv2.BORDER_REFLECT)


def _coefficients(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel (a, b) of the local linear model: a is HxW or HxWx3 (colour guide)."""
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    mean_p = _box(src, radius)
    if guide.ndim == 2:
        mean_i = _box(guide, radius)
        cov_ip = _box(guide * src, radius) - mean_i * mean_p
        var_i = _box(guide * guide, radius) - mean_i * mean_i
        a = cov_ip / (var_i + np.float32(eps))
        return a.astype(np.float32), (mean_p - a * mean_i).astype(np.float32)
    # Colour guide: a = (Sigma + eps U)^-1 cov(I, p), solved per pixel in closed form.
    mean_i = _box(guide, radius)
    cov_ip = _box(guide * src[..., None], radius) - mean_i * mean_p[..., None]
    corr = {}
    for i in range(3):
        for j in range(i, 3):
            corr[i, j] = _box(guide[..., i] * guide[..., j], radius) - mean_i[..., i] * mean_i[..., j]
    s00, s01, s02 = corr[0, 0] + eps, corr[0, 1], corr[0, 2]
    s11, s12, s22 = corr[1, 1] + eps, corr[1, 2], corr[2, 2] + eps
    # Inverse of the symmetric 3x3 via cofactors.
    c00 = s11 * s22 - s12 * s12
    c01 = s02 * s12 - s01 * s22
    c02 = s01 * s12 - s02 * s11
    c11 = s00 * s22 - s02 * s02
    c12 = s01 * s02 - s00 * s12
    c22 = s00 * s11 - s01 * s01
    det = s00 * c00 + s01 * c01 + s02 * c02
    inv_det = 1.0 / det
    x, y, z = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.empty_like(guide)
    a[..., 0] = (c00 * x + c01 * y + c02 * z) * inv_det
    a[..., 1] = (c01 * x + c11 * y + c12 * z) * inv_det
    a[..., 2] = (c02 * x + c12 * y + c22 * z) * inv_det
    b = mean_p - (a * mean_i).sum(axis=2)
    return a.astype(np.float32), b.astype(np.float32)


def _apply(guide: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if guide.ndim == 2:
        return (a * guide + b).astype(np.float32)
    return ((a * guide).sum(axis=2) + b).astype(np.float32)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-aware smoothing of ``src`` (HxW) along the edges of ``guide`` (HxW or HxWx3).

    Returns HxW float32. ``radius`` in px (window side 2r+1), ``eps`` in guide units squared.

    >>> g = np.zeros((20, 20), np.float32); g[:, 10:] = 1
    >>> q = guided_filter(g, g + 0.0, 4, 1e-4)
    >>> bool(abs(q[5, 9]) < 0.01 and abs(q[5, 10] - 1) < 0.01)
    True
    """
    check_image(guide, "guide", channels=(1, 3))
    check_map(src, "src", guide.shape[:2])
    guide = np.asarray(guide, np.float32)
    src = np.asarray(src, np.float32)
    a, b = _coefficients(guide, src, radius, eps)
    return _apply(guide, _box(a, radius), _box(b, radius))


def guided_upsample(guide: np.ndarray, src_low: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Joint guided upsampling: carry the low-resolution map ``src_low`` to the guide's size.

    ``guide``: full-resolution HxW or HxWx3 (e.g. the photo, sRGB in [0, 1]); ``src_low``:
    hxw map at any smaller size (same aspect ratio); ``radius`` in **full-resolution** px.
    The linear coefficients are fitted at low resolution (fast guided filter), upsampled
    bilinearly and applied to the full-resolution guide, so map edges snap to photo edges.
    Returns HxW float32.
    """
    check_image(guide, "guide", channels=(1, 3))
    check_map(src_low, "src_low")
    guide = np.asarray(guide, np.float32)
    src_low = np.asarray(src_low, np.float32)
    h, w = guide.shape[:2]
    hl, wl = src_low.shape
    if (hl, wl) == (h, w):
        return guided_filter(guide, src_low, radius, eps)
    guide_low = cv2.resize(guide, (wl, hl), interpolation=cv2.INTER_AREA)
    scale = max(h / hl, w / wl)
    radius_low = max(1, int(round(radius / scale)))
    a, b = _coefficients(guide_low, src_low, radius_low, eps)
    a, b = _box(a, radius_low), _box(b, radius_low)
    out = np.empty((h, w), np.float32)
    for y0 in range(0, h, BAND_ROWS):
        y1 = min(h, y0 + BAND_ROWS)
        out[y0:y1] = _apply(guide[y0:y1], _resize_band(a, y0, y1, h, w), _resize_band(b, y0, y1, h, w))
    return out


def _resize_band(low: np.ndarray, y0: int, y1: int, height: int, width: int) -> np.ndarray:
    """Rows ``y0:y1`` of ``cv2.resize(low, (width, height), INTER_LINEAR)`` without the rest:
    the few low-resolution rows they need are resized across, then blended down."""
    hl = low.shape[0]
    sy = np.clip((np.arange(y0, y1, dtype=np.float64) + 0.5) * hl / height - 0.5, 0, hl - 1)
    i0 = np.floor(sy).astype(np.int64)
    i1 = np.minimum(i0 + 1, hl - 1)
    first, last = int(i0[0]), int(i1[-1]) + 1
    rows = cv2.resize(low[first:last], (width, last - first), interpolation=cv2.INTER_LINEAR)
    if rows.ndim < low.ndim:  # cv2 drops a trailing axis of one
        rows = rows.reshape(rows.shape + (1,))
    fy = (sy - i0).astype(np.float32).reshape((-1,) + (1,) * (low.ndim - 1))
    return (rows[i0 - first] * (1 - fy) + rows[i1 - first] * fy).astype(np.float32)
