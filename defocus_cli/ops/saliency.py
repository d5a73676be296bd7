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

Colour alone also marks large smooth areas that differ from the mean, such as a graded sky
filling a frame around a small subject. :func:`subject_weights`, what automatic focus uses,
therefore keeps the full saliency only where the photo has detail (:func:`detail_map`), since
a photographer focuses on something that can look sharp, and half of it on featureless areas.
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
#: Averaging radius (Gaussian sigma, px of the small copy) of the gradient energy in
#: :func:`detail_map`: a subject's texture and edges count for the area around them.
DETAIL_SIGMA_PX = 4.0
#: A gradient energy below this (CIELAB lightness units per px) is never stretched up to 1.
DETAIL_MIN_ENERGY_L = 0.5
#: The share of its saliency a featureless area keeps in :func:`subject_weights`; chosen on
#: held-out scenes (0, 0.2 and 0.5 compared, docs/MODELS.md).
FEATURELESS_WEIGHT = 0.5


def colour_saliency(image_srgb: np.ndarray, long_side_px: int = SALIENCY_LONG_SIDE_PX) -> np.ndarray:
    """Saliency of ``image_srgb`` (HxWx3 float32 sRGB in [0, 1]) in [0, 1], 1 = stands out most.

    Returned at a reduced size (long side at most ``long_side_px``, aspect kept); resize it to
    use it per pixel. Distances are scaled so the 99th percentile is 1, but never by less than
    one just-noticeable colour difference: a uniform image is all (near) zeros.
    """
    return _saliency_of(_small_lab(image_srgb, long_side_px))


def detail_map(image_srgb: np.ndarray, long_side_px: int = SALIENCY_LONG_SIDE_PX) -> np.ndarray:
    """Local detail of ``image_srgb`` (HxWx3 sRGB in [0, 1]) in [0, 1], 1 = most: the gradient
    magnitude of the CIELAB lightness, averaged over :data:`DETAIL_SIGMA_PX`, scaled so the
    99th percentile is 1 (never by more than :data:`DETAIL_MIN_ENERGY_L` allows). Returned at
    :func:`colour_saliency`'s reduced size.

    >>> flat = np.full((40, 60, 3), 0.5, np.float32); flat[:, 30:] = 0.8
    >>> d = detail_map(flat)
    >>> bool(d[20, 30] > 0.9 > 0.01 > d[20, 5])
    True
    """
    return _detail_of(_small_lab(image_srgb, long_side_px))


def detail_weighted(saliency: np.ndarray, detail: np.ndarray,
                    featureless_weight: float = FEATURELESS_WEIGHT) -> np.ndarray:
    """``saliency`` of which a featureless area (``detail`` 0) keeps ``featureless_weight`` and
    a detailed one (``detail`` 1) all; both maps of one size."""
    return saliency * (featureless_weight + (1.0 - featureless_weight) * detail)


def subject_weights(image_srgb: np.ndarray, long_side_px: int = SALIENCY_LONG_SIDE_PX) -> np.ndarray:
    """How likely each pixel is to be the subject to focus on, in [0, 1]: the colour saliency,
    of which a featureless area keeps :data:`FEATURELESS_WEIGHT` and a detailed one all
    (:func:`detail_map`, :func:`detail_weighted`). Returned at the reduced size; what
    ``shallow-dof``'s automatic focus weights its depth histogram by.

    >>> sky = np.zeros((60, 90, 3), np.float32); sky[..., 2] = np.linspace(0.3, 0.9, 60)[:, None]
    >>> sky[20:50, 40:50] = 0.9; sky[20:50:2, 40:50] = 0.6  # a striped white subject
    >>> w = subject_weights(sky)
    >>> bool(w[35, 45] > 2 * w[5, 10])
    True
    """
    lab = _small_lab(image_srgb, long_side_px)
    return detail_weighted(_saliency_of(lab), _detail_of(lab))


def _small_lab(image_srgb: np.ndarray, long_side_px: int) -> np.ndarray:
    """CIELAB of a copy of ``image_srgb`` with its long side at most ``long_side_px``."""
    check_image(image_srgb, "image_srgb", channels=(3,))
    h, w = image_srgb.shape[:2]
    scale = min(1.0, long_side_px / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(np.ascontiguousarray(image_srgb, np.float32), size, interpolation=cv2.INTER_AREA)
    # OpenCV's float conversion takes sRGB in [0, 1] and returns L in [0, 100].
    return cv2.cvtColor(np.clip(small, 0.0, 1.0), cv2.COLOR_RGB2Lab)


def _saliency_of(lab: np.ndarray) -> np.ndarray:
    smoothed = cv2.GaussianBlur(lab, (0, 0), SALIENCY_BLUR_SIGMA_PX)
    distance = np.linalg.norm(smoothed - lab.reshape(-1, 3).mean(axis=0), axis=2)
    top = max(float(np.percentile(distance, SALIENCY_NORM_PERCENTILE)), SALIENCY_MIN_CONTRAST_LAB)
    return np.clip(distance / top, 0.0, 1.0).astype(np.float32)


def _detail_of(lab: np.ndarray) -> np.ndarray:
    lightness = np.ascontiguousarray(lab[..., 0])
    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3) / 8  # Sobel's taps sum to 8 per unit slope
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3) / 8
    energy = cv2.GaussianBlur(np.sqrt(gx * gx + gy * gy), (0, 0), DETAIL_SIGMA_PX)
    top = max(float(np.percentile(energy, SALIENCY_NORM_PERCENTILE)), DETAIL_MIN_ENERGY_L)
    return np.clip(energy / top, 0.0, 1.0).astype(np.float32)
