"""sRGB <-> linear light (IEC 61966-2-1).

Networks take and return sRGB-encoded values; blur is rendered in linear light. Values are
float in [0, 1] (linear values above 1, e.g. boosted highlights, pass through the curve's
power law unclipped).
"""

from __future__ import annotations

import cv2
import numpy as np

_A = 0.055
_THRESHOLD_SRGB = 0.04045
_THRESHOLD_LINEAR = 0.0031308


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """Decode sRGB values to linear light, float32.

    >>> float(srgb_to_linear(np.array([0.5]))[0])  # doctest: +ELLIPSIS
    0.214...
    """
    x = np.asarray(srgb, dtype=np.float32)
    low = x / 12.92
    high = ((np.maximum(x, _THRESHOLD_SRGB) + _A) / (1 + _A)) ** 2.4
    return np.where(x <= _THRESHOLD_SRGB, low, high).astype(np.float32)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Encode linear light to sRGB values, float32 (not clipped; clip before quantizing)."""
    x = np.asarray(linear, dtype=np.float32)
    low = x * 12.92
    high = (1 + _A) * np.maximum(x, _THRESHOLD_LINEAR) ** (1 / 2.4) - _A
    return np.where(x <= _THRESHOLD_LINEAR, low, high).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 luma weights of an HxWx3 array (same encoding as its input); HxW passes through."""
    x = np.asarray(rgb, dtype=np.float32)
    if x.ndim == 2:
        return x
    return (0.2126 * x[..., 0] + 0.7152 * x[..., 1] + 0.0722 * x[..., 2]).astype(np.float32)


def smooth_chroma_change(base: np.ndarray, result: np.ndarray, sigma_px: float) -> np.ndarray:
    """``result`` with its change from ``base`` split into luma and chroma, the chroma part
    Gaussian-blurred by ``sigma_px``: the luma change (sharpening, blur) stays as it was while
    pixel-scale colour noise and colour fringes at edges, which a small generator adds and a lens
    change does not, are smoothed away. Both HxWx3 in the same encoding; returns float32."""
    base = np.asarray(base, np.float32)
    change = np.asarray(result, np.float32) - base
    luma_change = luminance(change)[..., None]
    chroma_change = cv2.GaussianBlur(change - luma_change, (0, 0), float(sigma_px), borderType=cv2.BORDER_REFLECT)
    return (base + luma_change + chroma_change).astype(np.float32)
