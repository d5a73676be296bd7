"""Turn images into network tensors and back, per the spec's ``preprocessing`` name.

Images are float32 HxW[xC] in [0,1], sRGB-encoded (networks take and return sRGB values).
Encodings:

- ``srgb01``: the values as they are, [0,1];
- ``srgb-1to1``: 2·x − 1, [-1,1] (tanh generators);
- ``imagenet``: (x − mean) / std per channel with the ImageNet RGB statistics;
- ``none``: the values as they are (non-image inputs such as maps).

Example::

    batch = to_network(image_hwc, "imagenet")      # 1x3xHxW float32
    image = from_network(batch, "imagenet")         # back to HxWx3 in [0,1]
"""

from __future__ import annotations

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def encode(image: np.ndarray, preprocessing: str) -> np.ndarray:
    """Apply the per-pixel encoding to an HxW[xC] image (layout unchanged), as float32."""
    x = np.asarray(image, np.float32)
    if preprocessing in ("srgb01", "none"):
        return x
    if preprocessing == "srgb-1to1":
        return x * 2.0 - 1.0
    if preprocessing == "imagenet":
        if x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"imagenet preprocessing needs an HxWx3 image, got {x.shape}")
        return (x - IMAGENET_MEAN) / IMAGENET_STD
    raise ValueError(f"unknown preprocessing {preprocessing!r}")


def decode(x: np.ndarray, preprocessing: str) -> np.ndarray:
    """Invert :func:`encode` on an HxW[xC] array (no clipping: the caller decides)."""
    x = np.asarray(x, np.float32)
    if preprocessing in ("srgb01", "none"):
        return x
    if preprocessing == "srgb-1to1":
        return (x + 1.0) * 0.5
    if preprocessing == "imagenet":
        return x * IMAGENET_STD + IMAGENET_MEAN
    raise ValueError(f"unknown preprocessing {preprocessing!r}")


def hwc_to_nchw(image: np.ndarray) -> np.ndarray:
    """HxW or HxWxC -> 1xCxHxW, contiguous float32."""
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(f"expected an HxW or HxWxC array, got shape {image.shape}")
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)


def nchw_to_hwc(batch: np.ndarray) -> np.ndarray:
    """1xCxHxW -> HxWxC, or 1xHxW / 1x1xHxW -> HxW (a single-channel map)."""
    if batch.ndim == 3 and batch.shape[0] == 1:
        return batch[0]
    if batch.ndim != 4 or batch.shape[0] != 1:
        raise ValueError(f"expected a 1xCxHxW or 1xHxW batch, got shape {batch.shape}")
    out = batch[0].transpose(1, 2, 0)
    return out[..., 0] if out.shape[2] == 1 else out


def to_network(image: np.ndarray, preprocessing: str) -> np.ndarray:
    """HxW[xC] [0,1] sRGB image -> encoded 1xCxHxW float32 batch."""
    return hwc_to_nchw(encode(image, preprocessing))


def from_network(batch: np.ndarray, preprocessing: str) -> np.ndarray:
    """Encoded 1xCxHxW (or 1xHxW) batch -> decoded HxW[xC] float32."""
    return decode(nchw_to_hwc(batch), preprocessing)
