"""Put the photo's grain back where the renderer blurred it away.

A disc blur of radius r averages about ``pi r^2`` pixels, so it divides the sensor noise by
``sqrt(pi r^2 + 1)`` and blurred areas look plastic next to the grainy in-focus subject. We
estimate the photo's noise level and add synthetic noise of the missing amount,
``sigma * sqrt(1 - 1 / (pi r^2 + 1))``, in sRGB (where grain is visible and measured).
In-focus pixels (r < 0.5 px) are never touched. Deterministic: a fixed seed.
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.ops.checks import check_image, check_map
from defocus_cli.ops.lens import IN_FOCUS_RADIUS_PX

#: Noise sigmas below this (sRGB units) are treated as no grain (clean renders, graphics).
MIN_SIGMA = 0.002
_SEED = 20190107
# Above this size the noise is measured on a 4x4 mosaic of _SAMPLE_TILE crops.
_SAMPLE_PIXELS = 4_000_000
_SAMPLE_TILE = 512

# Immerkaer's mask: zero response to planes and to linear ramps, so mostly noise remains.
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def estimate_noise_sigma(image_srgb: np.ndarray, flat_fraction: float = 0.3) -> np.ndarray:
    """Per-channel noise standard deviation (sRGB units), float32 of shape (C,).

    Immerkaer's fast estimator (1996) restricted to the flattest ``flat_fraction`` of the
    image (lowest local gradient), so texture is not mistaken for grain.
    """
    check_image(image_srgb, "image_srgb", channels=(3,))
    x = np.asarray(image_srgb, np.float32)
    h, w = x.shape[:2]
    if h * w > _SAMPLE_PIXELS:
        # Grain is a per-pixel statistic: a mosaic of full-resolution crops spread over the
        # frame measures it as well as the whole photo, at a bounded cost.
        side = _SAMPLE_TILE
        ys = np.linspace(0, h - side, 4).astype(int)
        xs = np.linspace(0, w - side, 4).astype(int)
        x = np.concatenate([np.concatenate([x[y : y + side, c : c + side] for c in xs], axis=1) for y in ys], axis=0)
    gray = x.mean(axis=2)
    grad = cv2.GaussianBlur(np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1)), (0, 0), 2)
    flat = grad <= np.quantile(grad[::4, ::4], flat_fraction)
    flat[:1], flat[-1:], flat[:, :1], flat[:, -1:] = False, False, False, False
    sigmas = []
    for c in range(3):
        response = np.abs(cv2.filter2D(x[..., c], cv2.CV_32F, _IMMERKAER, borderType=cv2.BORDER_REFLECT))
        values = response[flat]
        sigma = float(np.sqrt(np.pi / 2) * values.mean() / 6.0) if values.size else 0.0
        sigmas.append(sigma)
    return np.asarray(sigmas, np.float32)


def add_grain(render_srgb: np.ndarray, coc_radius_px: np.ndarray, sigma: np.ndarray, seed: int = _SEED) -> np.ndarray:
    """Add the grain a blur of ``|coc_radius_px|`` removed; returns HxWx3 float32 sRGB.

    ``sigma``: per-channel noise level from :func:`estimate_noise_sigma` of the input photo.
    """
    check_image(render_srgb, "render_srgb", channels=(3,))
    check_map(coc_radius_px, "coc_radius_px", render_srgb.shape[:2])
    sigma = np.asarray(sigma, np.float32).reshape(-1)
    out = np.asarray(render_srgb, np.float32).copy()
    if float(sigma.max()) < MIN_SIGMA:
        return out
    r = np.abs(np.asarray(coc_radius_px, np.float32))
    weight = np.sqrt(1.0 - 1.0 / (np.pi * r * r + 1.0))
    weight[r < IN_FOCUS_RADIUS_PX] = 0.0
    rng = np.random.default_rng(seed)
    # Row strips keep the temporary noise small at 24 MP.
    rows = max(1, 4_000_000 // max(out.shape[1], 1))
    for y0 in range(0, out.shape[0], rows):
        y1 = min(out.shape[0], y0 + rows)
        noise = rng.standard_normal((y1 - y0, out.shape[1], 3), dtype=np.float32)
        out[y0:y1] += noise * sigma * weight[y0:y1, :, None]
    return out
