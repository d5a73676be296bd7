"""sRGB <-> linear light (IEC 61966-2-1).

Networks take and return sRGB-encoded values; blur is rendered in linear light. Values are
float in [0, 1] (linear values above 1, e.g. boosted highlights, pass through the curve's
power law unclipped).
"""

from __future__ import annotations

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
