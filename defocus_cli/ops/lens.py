"""Thin-lens circle of confusion, in the project's fixed convention.

``coc_radius_px = K * (D - D_focus)``: D is normalized inverse depth (1 = nearest), D_focus the
focus plane, K the blur radius in pixels of the input image. Positive = in front of the
focus plane. A pixel is *in focus* when ``|coc| < 0.5`` px.
"""

from __future__ import annotations

import re

import numpy as np

IN_FOCUS_RADIUS_PX = 0.5


def signed_coc_radius(depth_inv_norm: np.ndarray, focus_depth: float, blur_radius_px: float) -> np.ndarray:
    """Signed CoC radius in pixels (positive in front of the focus plane), float32."""
    if blur_radius_px < 0:
        raise ValueError(f"blur_radius_px must be >= 0, got {blur_radius_px}")
    depth = np.asarray(depth_inv_norm, dtype=np.float32)
    return (np.float32(blur_radius_px) * (depth - np.float32(focus_depth))).astype(np.float32)


def in_focus_mask(coc_radius_px: np.ndarray) -> np.ndarray:
    """Pixels whose CoC radius is below half a pixel."""
    return np.abs(coc_radius_px) < IN_FOCUS_RADIUS_PX


_BLUR_RADIUS = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*$")


def parse_blur_radius(text: str, image_shape: tuple[int, ...]) -> float:
    """Read ``--blur-radius``: pixels (``12``, ``7.5``) or percent of the long side (``2%``).

    >>> parse_blur_radius("2%", (1000, 3000))
    60.0
    """
    match = _BLUR_RADIUS.match(str(text))
    if not match:
        raise ValueError(f"blur radius must be pixels like 12 or a percentage like 2%, got {text!r}")
    value = float(match.group(1))
    if match.group(2):
        return value / 100.0 * float(max(image_shape[0], image_shape[1]))
    return value
