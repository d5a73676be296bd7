"""Run a network at the scale where a photo's defocus blur matches what it was trained on.

The RefocusGAN networks learn from small crops (64-96 px) of focal stacks whose circles of
confusion are a few pixels wide (``data.tasks.focal_stack_sample``: K in 4..10 px, so the 95th
percentile CoC radius of a training slice is typically 3-4 px and seldom beyond 8). A
24-megapixel photo blurs its background by tens of pixels, which a network never saw at full
resolution. ``--mode scaled`` therefore:

1. estimates the photo's blur, the 95th percentile of the classical defocus map
   (:func:`photo_blur_radius_px`, computed on a copy at most 1024 px long);
2. shrinks the photo by ``s`` so that blur lands at :data:`TARGET_BLUR_RADIUS_PX`
   (:func:`matching_scale`; never enlarged);
3. after the network ran there, brings the result up by *detail transfer*
   (:func:`bring_up`): the network's change, upsampled bicubically, is added to the full
   photo, so the photo's own detail finer than the small copy (its in-focus texture) stays.

With a perfect network at the small scale (the all-in-focus image itself), detail transfer
recovers 33.8 dB at s = 1/2 and 28.9 dB at s = 1/4 on synthetic focal slices (384 px, K =
24 px), against 33.0 / 27.4 dB for upsampling the result alone and 27.0 / 25.3 dB for a
guided-filter upsampling of the change (identity: 23.5 dB). This bounds what scaled mode can
reach; it says nothing about how well a network deblurs.

>>> matching_scale(20.0, 5.0)
0.25
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.ops.checks import check_image
from defocus_cli.ops.defocus_classical import classical_defocus_map
from defocus_cli.ops.focus import sml

#: The photo's 95th-percentile CoC radius (px) is brought to this at the working scale.
TARGET_BLUR_RADIUS_PX = 5.0
#: Percentile of the defocus map taken as "the photo's blur".
BLUR_PERCENTILE = 95.0
#: Long side (px) of the copy the blur is estimated on; bounds its cost at any size.
ESTIMATE_LONG_SIDE = 1024
#: Never shrink more than this (a near-featureless photo reads as enormously blurred).
MIN_SCALE = 1.0 / 32.0
#: Refocus detail gate ``((sml(result) + c) / (sml(small) + c)) ** p``, capped at 1: ``c`` lets
#: flat areas count as unchanged; the power drops the detail of what G2 blurred decisively.
#: With an oracle G2 on synthetic focal stacks p = 4 was best of 1, 2, 4; against dropping all
#: fine detail it gains up to 1.4 dB on small shifts and loses up to 0.7 dB on large ones.
_GATE_FLOOR = 0.01
_GATE_POWER = 4


def photo_blur_radius_px(image_srgb: np.ndarray) -> float:
    """The photo's large-blur CoC radius in its own pixels: the 95th percentile of the
    classical defocus map (``ops.defocus_classical``), estimated on a copy at most
    :data:`ESTIMATE_LONG_SIDE` px long and scaled back. It under-reads large blurs somewhat
    (about 0.7x at 12 px on synthetic focal slices), which errs towards shrinking less, and
    saturates at 16 px of that copy (about 94 px on a 6000 px photo)."""
    check_image(image_srgb, "image_srgb", channels=(3,))
    height, width = image_srgb.shape[:2]
    factor = min(1.0, ESTIMATE_LONG_SIDE / max(height, width))
    small = image_srgb
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        small = cv2.resize(np.asarray(image_srgb, np.float32), size, interpolation=cv2.INTER_AREA)
    radius = classical_defocus_map(small)
    return float(np.percentile(radius, BLUR_PERCENTILE)) / factor


def matching_scale(blur_radius_px: float, target_px: float = TARGET_BLUR_RADIUS_PX) -> float:
    """The shrink factor ``s`` in [MIN_SCALE, 1] that brings ``blur_radius_px`` to ``target_px``."""
    if blur_radius_px <= target_px:
        return 1.0
    return max(MIN_SCALE, target_px / blur_radius_px)


def working_size(height: int, width: int, scale: float, minimum: int = 1) -> tuple[int, int]:
    """(h, w) of the working copy at ``scale``, each side at least ``minimum`` px."""
    return max(minimum, round(height * scale)), max(minimum, round(width * scale))


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-average ``image`` down to ``size`` = (h, w); the same array when it already fits."""
    if image.shape[:2] == size:
        return image
    return cv2.resize(np.asarray(image, np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _enlarge(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(np.asarray(image, np.float32), (size[1], size[0]), interpolation=cv2.INTER_CUBIC)


def bring_up(full: np.ndarray, small: np.ndarray, result_small: np.ndarray, *, gate: bool = False) -> np.ndarray:
    """Full-resolution result from a network's ``result_small`` on ``small`` (a shrunk ``full``).

    Returns ``full + up(result_small - small)`` (bicubic), float32 HxWx3, not clipped: the
    photo keeps its own detail finer than the working scale. At full size (``small`` is
    ``full``'s size) the result is ``result_small`` itself, not a copy. With ``gate`` (refocus, where the
    network may blur what was sharp), that fine detail is kept only as far as the small copy's
    sharpness survived (the SML ratio of result to input, see ``_GATE_POWER``): a subject the
    network blurs loses its fine texture with it.
    """
    check_image(full, "full", channels=(3,))
    check_image(small, "small", channels=(3,))
    if result_small.shape != small.shape:
        raise ValueError(f"result_small has shape {result_small.shape}, expected {small.shape}")
    size = full.shape[:2]
    if small.shape[:2] == size:
        return np.asarray(result_small, np.float32)
    change = np.asarray(result_small, np.float32) - np.asarray(small, np.float32)
    if not gate:
        out = _enlarge(change, size)
        out += full
        return out
    ratio = np.minimum((sml(result_small) + _GATE_FLOOR) / (sml(small) + _GATE_FLOOR), 1.0)
    keep = (ratio ** _GATE_POWER).astype(np.float32)
    # result = up(result_small) + keep * (full - up(small)), computed in place to bound memory.
    out = np.asarray(full, np.float32) - _enlarge(small, size)
    out *= cv2.resize(keep, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)[..., None]
    out += _enlarge(result_small, size)
    return out
