"""Focus measures: how sharp each pixel's neighbourhood is, as an HxW float32 map in [0, 1].

Two measures are fixed here because networks take them as input channels and a loss uses
them, so they must never change silently:

* :func:`sml` -- Sum-of-Modified-Laplacian (Nayar & Nakagawa; RefocusGAN, seed 001 §3.1).
* :func:`composite_focus_measure` -- after Sakurikar & Narayanan, "Composite focus measure for
  high quality depth maps" (ICCV 2017), the focus channel of the defocus-magnification cGAN
  (seed 000, ref. [24]): a weighted combination of five standard focus measures from
  different families (Laplacian, gradient, statistics, band-pass energy).

Input: sRGB-encoded float in [0, 1] (what the networks see), HxWx3 (Rec. 709 luma is used)
or HxW.

Normalization (absolute, not per image). Each raw measure is a *local mean* over a fixed
window in pixels, so it does not depend on the image size, and it is mapped to [0, 1] with a
fixed saturating curve ``x / (x + c)``. ``c`` is a constant per measure, chosen once as the
median response over the textured pixels of a sharp natural photograph (scikit-image
"camera", textured = local variance > 1e-4), so typical in-focus texture lands near 0.5-0.8 and flat or blurred areas near 0.
Per-image min-max scaling was rejected: it stretches an all-blurry photo to look as sharp as
an all-sharp one, which defeats the purpose of a network input that says *how* focused a
pixel is. The cost is that flat, textureless in-focus regions read as low focus -- which is
inherent to every focus measure.

Both are O(pixels) with small separable/box filters (OpenCV), deterministic, and need no
tiling at 24 MP (a few float32 HxW buffers).

>>> import numpy as np
>>> flat = np.full((32, 32, 3), 0.5, np.float32)
>>> float(sml(flat).max())
0.0
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.ops.checks import check_image
from defocus_cli.ops.color import luminance

#: Side of the square averaging window, in pixels (odd). Nayar's SML sums over an N x N
#: window; we average over it so the scale does not depend on N either.
SML_WINDOW_PX = 9
#: Step of the modified Laplacian (distance to the neighbours), in pixels.
SML_STEP_PX = 1

# Saturation constants c of x / (x + c): the median raw response over textured pixels of
# scikit-image's "camera" (512 x 512, sRGB luma in [0, 1]). Fixed; changing them changes
# every trained model's input.
_C_SML = 0.1107
_C_TENENGRAD = 0.0762
_C_VARIANCE = 0.00291
_C_LAPLACIAN_ENERGY = 0.02003
_C_BANDPASS = 0.00023

#: Weights of the composite (sum to 1): the Laplacian and gradient families carry the
#: finest-scale evidence, variance and band-pass energy add robustness to noise and to
#: low-contrast texture.
COMPOSITE_WEIGHTS: dict[str, float] = {
    "modified_laplacian": 0.25,
    "tenengrad": 0.25,
    "graylevel_variance": 0.15,
    "laplacian_energy": 0.15,
    "bandpass_energy": 0.20,
}


def _gray(image: np.ndarray) -> np.ndarray:
    check_image(image, "image", channels=(1, 3, 4))
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 3:
        x = luminance(x[..., :3]) if x.shape[2] >= 3 else x[..., 0]
    return np.ascontiguousarray(x, dtype=np.float32)


def _box_mean(x: np.ndarray, size: int = SML_WINDOW_PX) -> np.ndarray:
    return cv2.boxFilter(x, cv2.CV_32F, (size, size), normalize=True, borderType=cv2.BORDER_REFLECT)


def _saturate(raw: np.ndarray, c: float) -> np.ndarray:
    raw = np.maximum(raw, 0.0, dtype=np.float32)
    return (raw / (raw + np.float32(c))).astype(np.float32)


def _modified_laplacian(gray: np.ndarray) -> np.ndarray:
    step = SML_STEP_PX
    kx = np.zeros((1, 2 * step + 1), np.float32)
    kx[0, 0], kx[0, step], kx[0, -1] = -1.0, 2.0, -1.0
    lx = cv2.filter2D(gray, cv2.CV_32F, kx, borderType=cv2.BORDER_REFLECT)
    ly = cv2.filter2D(gray, cv2.CV_32F, kx.T, borderType=cv2.BORDER_REFLECT)
    return np.abs(lx) + np.abs(ly)


def _raw_measures(gray: np.ndarray) -> dict[str, np.ndarray]:
    ml = _modified_laplacian(gray)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT) / 4.0
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT) / 4.0
    # The box filter's float rounding can leave tiny negatives on flat regions; sqrt of those is NaN.
    tenengrad = np.sqrt(np.maximum(_box_mean(gx * gx + gy * gy), 0.0))
    mean = _box_mean(gray)
    variance = np.maximum(_box_mean(gray * gray) - mean * mean, 0.0)
    lap = cv2.Laplacian(gray, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT)
    laplacian_energy = _box_mean(lap * lap)
    # Band-pass (difference of Gaussians, sigma 1 vs 2): energy at the scale just above the
    # finest, where mild defocus removes detail before noise dominates.
    dog = cv2.GaussianBlur(gray, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT) - cv2.GaussianBlur(
        gray, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT
    )
    bandpass = _box_mean(dog * dog)
    return {
        "modified_laplacian": _box_mean(ml),
        "tenengrad": tenengrad,
        "graylevel_variance": variance,
        "laplacian_energy": laplacian_energy,
        "bandpass_energy": bandpass,
    }


_CONSTANTS = {
    "modified_laplacian": _C_SML,
    "tenengrad": _C_TENENGRAD,
    "graylevel_variance": _C_VARIANCE,
    "laplacian_energy": _C_LAPLACIAN_ENERGY,
    "bandpass_energy": _C_BANDPASS,
}


def sml(image_srgb: np.ndarray) -> np.ndarray:
    """Sum-of-Modified-Laplacian focus measure, HxW float32 in [0, 1).

    ``ML = |2I - I(x-1,y) - I(x+1,y)| + |2I - I(x,y-1) - I(x,y+1)|`` on sRGB luma, averaged
    over a ``SML_WINDOW_PX`` square window (no threshold: a smooth response suits a network
    input), then ``ML / (ML + c)`` with a fixed ``c`` (see the module docstring).

    >>> rng = np.random.default_rng(0)
    >>> sharp = rng.random((64, 64)).astype(np.float32)
    >>> blurry = cv2.GaussianBlur(sharp, (0, 0), 3)
    >>> bool(sml(sharp).mean() > sml(blurry).mean())
    True
    """
    gray = _gray(image_srgb)
    return _saturate(_box_mean(_modified_laplacian(gray)), _C_SML)


def composite_focus_measure(image_srgb: np.ndarray) -> np.ndarray:
    """Composite focus measure, HxW float32 in [0, 1).

    The weighted sum (``COMPOSITE_WEIGHTS``) of five normalized measures: modified
    Laplacian, Tenengrad (Sobel gradient magnitude), local gray-level variance, energy of
    Laplacian and difference-of-Gaussians band-pass energy, each a local mean over a
    ``SML_WINDOW_PX`` window mapped through ``x / (x + c)``.
    """
    gray = _gray(image_srgb)
    out = np.zeros(gray.shape, np.float32)
    for name, raw in _raw_measures(gray).items():
        out += np.float32(COMPOSITE_WEIGHTS[name]) * _saturate(raw, _CONSTANTS[name])
    return np.clip(out, 0.0, 1.0)


def raw_focus_measures(image_srgb: np.ndarray) -> dict[str, np.ndarray]:
    """The five un-normalized measures (local means, HxW float32), for calibration and study."""
    return _raw_measures(_gray(image_srgb))
