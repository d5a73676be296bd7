"""Image-quality metrics: PSNR, SSIM and MAE.

Quality is reported on 8-bit sRGB outputs, as in the papers: pass float images in [0, 1]
and they are quantized to 8 bits first (``quantize=True``, the default).
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.ops.checks import check_image


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round float [0, 1] values to 8 bits the way an encoder would."""
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def _prepare(a: np.ndarray, b: np.ndarray, quantize: bool) -> tuple[np.ndarray, np.ndarray, float]:
    check_image(a, "a")
    check_image(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if quantize:
        return to_uint8(a).astype(np.float64), to_uint8(b).astype(np.float64), 255.0
    return np.asarray(a, np.float64), np.asarray(b, np.float64), 1.0


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, quantize: bool = True) -> float:
    """Peak signal-to-noise ratio in dB; ``mask`` (HxW bool) restricts it to some pixels.

    Identical images give ``inf``.
    """
    x, y, peak = _prepare(a, b, quantize)
    sq = (x - y) ** 2
    if sq.ndim == 3:
        sq = sq.mean(axis=2)
    if mask is not None:
        if mask.shape != sq.shape:
            raise ValueError(f"mask shape {mask.shape} does not match image {sq.shape}")
        if not mask.any():
            raise ValueError("mask selects no pixels")
        sq = sq[mask]
    mse = float(sq.mean())
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(peak**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, quantize: bool = True) -> float:
    """Mean structural similarity (Wang et al. 2004: Gaussian window, sigma 1.5, K1=0.01, K2=0.03).

    Colour images average the per-channel SSIM.
    """
    x, y, peak = _prepare(a, b, quantize)
    c1 = (0.01 * peak) ** 2
    c2 = (0.03 * peak) ** 2
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    scores = []
    for c in range(x.shape[2]):
        xc, yc = x[..., c], y[..., c]

        def blur(v: np.ndarray) -> np.ndarray:
            return cv2.GaussianBlur(v, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

        mu_x, mu_y = blur(xc), blur(yc)
        var_x = blur(xc * xc) - mu_x**2
        var_y = blur(yc * yc) - mu_y**2
        cov = blur(xc * yc) - mu_x * mu_y
        num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
        den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
        scores.append(float((num / den).mean()))
    return float(np.mean(scores))


def mae(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean absolute error in the arrays' own units (no quantization: use it for maps)."""
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"arrays differ in shape: {x.shape} vs {y.shape}")
    diff = np.abs(x - y)
    if mask is not None:
        diff = diff[mask]
    return float(diff.mean())


def rmse(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Root-mean-square error in the arrays' own units."""
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"arrays differ in shape: {x.shape} vs {y.shape}")
    sq = (x - y) ** 2
    if mask is not None:
        sq = sq[mask]
    return float(np.sqrt(sq.mean()))
