"""Test-time views: the mean of a per-pixel estimate over mirrored and shifted copies of a
photo, each brought back into place first.

A convolutional estimator is neither mirror- nor shift-equivariant (its poolings see a photo
differently when it moves by less than their stride), so its errors differ between views and
their mean cancels part of them. The left-right mirror is a view every photo allows; an
upside-down one is not (scenes are not symmetric that way: it made DMENet's map worse).

>>> double = lambda im: im[..., 0] * 2
>>> image = np.random.default_rng(0).random((6, 9, 3)).astype(np.float32)
>>> bool(np.allclose(averaged_over_views(double, image, shifts_px=(0, 2)), image[..., 0] * 2))
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def averaged_over_views(estimate: Callable[[np.ndarray], np.ndarray], image_srgb: np.ndarray,
                        shifts_px: tuple[int, ...] = (0,)) -> np.ndarray:
    """The mean of ``estimate``'s HxW maps of ``image_srgb`` and of its left-right mirror, each
    also shifted down and right by every offset in ``shifts_px`` (symmetric padding; 0 = no
    shift). The result is exactly mirror-equivariant: ``2 * len(shifts_px)`` passes."""
    maps = []
    for mirrored in (False, True):
        view = image_srgb[:, ::-1] if mirrored else image_srgb
        for shift in shifts_px:
            shifted = np.pad(view, ((shift, 0), (shift, 0), (0, 0)), mode="symmetric") if shift else view
            value = estimate(np.ascontiguousarray(shifted))[shift:, shift:]
            maps.append(value[:, ::-1] if mirrored else value)
    return np.mean(maps, axis=0, dtype=np.float32)
