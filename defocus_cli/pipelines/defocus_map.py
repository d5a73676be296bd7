"""Defocus map of a photo: per-pixel CoC radius in px of the input (DESIGN.md units).

``method='learned'``: DMENet's network B at a working resolution matched to its training
blur, guided-upsampled (:mod:`defocus_cli.pipelines.defocus_learned`); needs a model of task
``defocus-map``. ``method='classical'``: Zhuo & Sim (2011),
:mod:`defocus_cli.ops.defocus_classical`; no weights.

Example::

    coc_radius_px = defocus_map(image_srgb, "learned", model=model)
    blurred = binary_blur_mask(coc_radius_px, 1.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from defocus_cli.models.network import Network
from defocus_cli.ops.checks import check_image, check_map
from defocus_cli.ops.defocus_classical import classical_defocus_map
from defocus_cli.pipelines.defocus_learned import learned_defocus_map

METHODS = ("learned", "classical")


def defocus_map(image_srgb: np.ndarray, method: str = "classical", *, model: Network | None = None,
                info: dict[str, Any] | None = None) -> np.ndarray:
    """HxW float32 CoC radius in px (unsigned) of an HxWx3 sRGB [0, 1] photo.

    ``model`` (a loaded ``defocus-map`` network) is required by ``'learned'``; ``info``
    receives its working size and blur scale.
    """
    check_image(image_srgb, "image_srgb", channels=(3,))
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "learned":
        if model is None:
            raise ValueError("method 'learned' needs a defocus-map model")
        return learned_defocus_map(image_srgb, model, info=info)
    return classical_defocus_map(image_srgb)


def binary_blur_mask(coc_radius_px: np.ndarray, threshold_px: float) -> np.ndarray:
    """1.0 where the CoC radius exceeds ``threshold_px`` (blurred), else 0.0; HxW float32
    (the CUHK blur-detection convention: 1 = blurred)."""
    check_map(coc_radius_px, "coc_radius_px")
    return (np.asarray(coc_radius_px) > threshold_px).astype(np.float32)
