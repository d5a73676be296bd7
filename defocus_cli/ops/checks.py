"""Shape and range checks run at the top of every op, so misuse fails where it happens."""

from __future__ import annotations

import numpy as np


def check_image(image: np.ndarray, name: str = "image", channels: tuple[int, ...] = (1, 3, 4)) -> None:
    """Require an HxW or HxWxC float array with C in ``channels``."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim == 2:
        if 1 not in channels:
            raise ValueError(f"{name} must have {channels} channels, got a single-channel HxW array")
        return
    if image.ndim != 3 or image.shape[2] not in channels:
        raise ValueError(f"{name} must be HxW or HxWxC with C in {channels}, got shape {image.shape}")


def check_map(array: np.ndarray, name: str, shape: tuple[int, int] | None = None) -> None:
    """Require a 2-D map, optionally of a given height and width."""
    if not isinstance(array, np.ndarray) or array.ndim != 2:
        got = getattr(array, "shape", type(array).__name__)
        raise ValueError(f"{name} must be an HxW array, got {got}")
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
