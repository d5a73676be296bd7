"""Colour saliency: where a photo's subject probably is, from the photo alone.

Frequency-tuned saliency (Achanta, Hemami, Estrada and Süsstrunk, CVPR 2009): a pixel is
salient by how far its slightly smoothed CIELAB colour lies from the mean colour of the whole
photo. A subject stands out from its surroundings in colour or brightness; large uniform
areas (sky, a wall, a table) sit near the mean. It needs no model, works at any resolution
and costs a few milliseconds on a small copy, which is all a focus choice needs.

>>> image = np.full((40, 60, 3), 0.3, np.float32); image[15:25, 25:35] = (0.9, 0.2, 0.1)
>>> saliency = colour_saliency(image)
>>> bool(saliency[20, 30] > 0.9 > 0.1 > saliency[2, 2])
True
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.ops.checks import check_image

#: The long side of the copy the saliency is computed on (a statistic, not a filter).
SALIENCY_LONG_SIDE_PX = 256
#: Gaussian smoothing of the copy before the colour distance, in its pixels: removes fine
#: texture and noise so edges alone do not read as salient.
SALIENCY_BLUR_SIGMA_PX = 2.0
#: The percentile of the raw distance that maps to 1 (robust to a few extreme pixels).
SALIENCY_NORM_PERCENTILE = 99.0
#: A colour distance below this (CIELAB units: about one just-noticeable difference) is never
#: stretched up to 1, so a nearly uniform photo has no salient part.
SALIENCY_MIN_CONTRAST_LAB = 2.3


def colour_saliency(image_srgb: np.ndarray, long_side_px: int = SALIENCY_LONG_SIDE_PX) -> np.ndarray:
    """Saliency of ``image_srgb`` (HxWx3 float32 sRGB in [0, 1]) in [0, 1], 1 = stands out most.

    Returned at a reduced size (long side at most ``long_side_px``, aspect kept); resize it to
    use it per pixel. Distances are scaled so the 99th percentile is 1, but never by less than
    one just-noticeable colour difference: a uniform image is all (near) zeros.
    """
    check_image(image_srgb, "image_srgb", channels=(3,))
    h, w = image_srgb.shape[:2]
    scale = min(1.0, long_side_px / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(np.ascontiguousarray(image_srgb, np.float32), size, interpolation=cv2.INTER_AREA)
    # OpenCV's float conversion takes sRGB in [0, 1] and returns L in [0, 100].
    lab = cv2.cvtColor(np.clip(small, 0.0, 1.0), cv2.COLOR_RGB2Lab)
    smoothed = cv2.GaussianBlur(lab, (0, 0), SALIENCY_BLUR_SIGMA_PX)
    distance = np.linalg.norm(smoothed - lab.reshape(-1, 3).mean(axis=0), axis=2)
    top = max(float(np.percentile(distance, SALIENCY_NORM_PERCENTILE)), SALIENCY_MIN_CONTRAST_LAB)
    return np.clip(distance / top, 0.0, 1.0).astype(np.float32)
