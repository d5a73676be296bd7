"""Defocus map of a photo: per-pixel CoC radius in px of the input (DESIGN.md units).

``method='classical'``: Zhuo & Sim (2011), :mod:`defocus_cli.ops.defocus_classical`. The
learned estimator (DMENet) is added as another method of this module.
"""

from __future__ import annotations

import numpy as np

from defocus_cli.ops.checks import check_image, check_map
from defocus_cli.ops.defocus_classical import classical_defocus_map

METHODS = ("classical",)


def defocus_map(image_srgb: np.ndarray, method: str = "classical") -> np.ndarray:
    """HxW float32 CoC radius in px (unsigned) of an HxWx3 sRGB [0, 1] photo."""
    check_image(image_srgb, "image_srgb", channels=(3,))
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return classical_defocus_map(image_srgb)


def binary_blur_mask(coc_radius_px: np.ndarray, threshold_px: float) -> np.ndarray:
    """1.0 where the CoC radius exceeds ``threshold_px`` (blurred), else 0.0; HxW float32
    (the CUHK blur-detection convention: 1 = blurred)."""
    check_map(coc_radius_px, "coc_radius_px")
    return (np.asarray(coc_radius_px) > threshold_px).astype(np.float32)
