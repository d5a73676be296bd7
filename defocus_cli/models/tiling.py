"""Padding to a network's stride and seamless tiled inference for large images.

A network with downsampling needs sides that are a multiple of its stride; :func:`pad_to_stride`
reflect-pads the bottom and right edges and :func:`crop` undoes it. :func:`run_tiled` runs a
function over overlapping tiles and blends them with raised-cosine weights, so memory is bounded
by the tile size and no seam shows. Each tile's weight is exactly zero within ``overlap // 4``
pixels of an edge it shares with another tile, so a network whose receptive-field radius is at
most that gives the same result tiled as untiled (up to float rounding); beyond it the feather
hides the difference.

Example::

    out = run_tiled(lambda t: network(t), image_hwc, tile_px=512, overlap_px=64, stride=4)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from defocus_cli.errors import UsageError

TileFn = Callable[[np.ndarray], np.ndarray]


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        shape = getattr(image, "shape", None)
        raise ValueError(f"expected an HxW or HxWxC array, got shape {shape}")


def pad_to_stride(
    image: np.ndarray, stride: int, mode: str = "reflect", *, min_strides: int = 1
) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad the bottom/right of an HxW[xC] image so both sides are multiples of ``stride`` and
    at least ``min_strides`` strides long (exported graphs declare sides ``stride * k`` with
    ``k >= 2``, so network inputs use ``min_strides=2``).

    Reflection (no edge repeat) keeps image statistics natural for the network; numpy repeats
    the reflection when the pad exceeds the side. Returns the padded image and the original
    ``(height, width)`` for :func:`crop`.
    """
    _check_image(image)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    height, width = image.shape[:2]
    pad_h, pad_w = (-height) % stride, (-width) % stride
    padded = image
    if pad_h or pad_w:
        # A 1-pixel side has nothing to reflect; repeat its edge instead.
        if mode == "reflect" and min(height, width) < 2:
            mode = "edge"
        widths = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (image.ndim - 2)
        padded = np.pad(image, widths, mode=mode)
    return pad_to_min_side(padded, min_strides * stride), (height, width)


def pad_to_min_side(image: np.ndarray, side: int) -> np.ndarray:
    """Edge-extend the bottom/right of an HxW[xC] image so both sides are at least ``side``."""
    grow_h, grow_w = max(0, side - image.shape[0]), max(0, side - image.shape[1])
    if grow_h == 0 and grow_w == 0:
        return image
    return np.pad(image, [(0, grow_h), (0, grow_w)] + [(0, 0)] * (image.ndim - 2), mode="edge")


def crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The top-left ``(height, width)`` of ``image`` (undoes :func:`pad_to_stride`)."""
    height, width = size
    return image[:height, :width]


def tile_starts(size: int, tile: int, overlap: int, stride: int = 1) -> list[int]:
    """Start offsets of tiles of ``tile`` px covering ``size`` px with at least ``overlap`` px
    between neighbours, spread evenly and snapped to multiples of ``stride``."""
    if size <= tile:
        return [0]
    step = tile - overlap
    count = math.ceil((size - tile) / step) + 1
    span = size - tile
    return [((k * span) // (count - 1)) // stride * stride for k in range(count)]


def _ramp(length: int, margin: int) -> np.ndarray:
    """Weights rising 0 -> 1 across an overlap of ``length`` px: zero in the first ``margin``,
    a raised cosine in the middle, one in the last ``margin``."""
    ramp = np.zeros(length, np.float64)
    width = length - 2 * margin
    if width <= 0:
        ramp[length // 2 :] = 1.0
        return ramp
    t = (np.arange(width) + 0.5) / width
    ramp[margin : margin + width] = 0.5 - 0.5 * np.cos(np.pi * t)
    ramp[margin + width :] = 1.0
    return ramp


def _axis_weights(starts: list[int], tile: int, size: int, margin: int) -> list[np.ndarray]:
    """Per-tile 1-D weights along one axis; flat (1) where a tile meets the image border."""
    ends = [min(s + tile, size) for s in starts]
    weights = []
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        w = np.ones(end - start, np.float64)
        if i > 0:
            left = ends[i - 1] - start
            w[:left] *= _ramp(left, margin)
        if i < len(starts) - 1:
            right = end - starts[i + 1]
            w[end - start - right :] *= _ramp(right, margin)[::-1]
        weights.append(w)
    return weights


def run_tiled(
    fn: TileFn,
    image: np.ndarray,
    *,
    tile_px: int = 512,
    overlap_px: int = 64,
    stride: int = 1,
) -> np.ndarray:
    """Apply ``fn`` (HxW[xC] -> HxW[xC'], same height and width) to ``image`` tile by tile.

    The image is first reflect-padded to a multiple of ``stride``; tiles are ``tile_px`` square
    (rounded down to the stride) and overlap by at least ``overlap_px`` (rounded up; at most half
    a tile). An image that fits in one tile is run in one call. The result is cropped back to the
    input's size and returned as float32.
    """
    _check_image(image)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    tile = max(stride, tile_px // stride * stride)
    overlap = math.ceil(overlap_px / stride) * stride
    if overlap_px < 0 or overlap > tile // 2:
        raise UsageError(
            f"tile overlap must be between 0 and half the tile ({tile} px), got {overlap_px}"
        )
    padded, size = pad_to_stride(image, stride)
    height, width = padded.shape[:2]
    if height <= tile and width <= tile:
        return crop(_call(fn, padded), size).astype(np.float32, copy=False)

    margin = overlap // 4
    ys, xs = tile_starts(height, tile, overlap, stride), tile_starts(width, tile, overlap, stride)
    wy, wx = _axis_weights(ys, tile, height, margin), _axis_weights(xs, tile, width, margin)
    total = None
    weight_sum = np.zeros((height, width), np.float64)
    for y0, row_w in zip(ys, wy, strict=True):
        for x0, col_w in zip(xs, wx, strict=True):
            y1, x1 = y0 + len(row_w), x0 + len(col_w)
            out = _call(fn, padded[y0:y1, x0:x1])
            if total is None:
                total = np.zeros((height, width) + out.shape[2:], np.float64)
            w = np.outer(row_w, col_w)
            total[y0:y1, x0:x1] += out * (w if out.ndim == 2 else w[..., None])
            weight_sum[y0:y1, x0:x1] += w
    assert total is not None
    blended = total / (weight_sum if total.ndim == 2 else weight_sum[..., None])
    return crop(blended, size).astype(np.float32)


def _call(fn: TileFn, tile: np.ndarray) -> np.ndarray:
    out = np.asarray(fn(tile))
    if out.shape[:2] != tile.shape[:2]:
        raise ValueError(
            f"tile function changed the tile size: {tile.shape[:2]} -> {out.shape[:2]}"
        )
    return out
