"""Classical single-image defocus map, after Zhuo & Sim, "Defocus map estimation from a single
image" (Pattern Recognition 44(9), 2011). No weights needed: the baseline the learned model
must beat and the fallback when no model is available.

1. Edges: Canny on the luma of the working image.
2. Blur at edges: re-blur with a Gaussian of ``sigma0``; at an edge blurred by a Gaussian of
   ``sigma`` the gradient-magnitude ratio is ``R = sqrt(sigma^2 + sigma0^2) / sigma``, hence
   ``sigma = sigma0 / sqrt(R^2 - 1)``. Large blurs are measured on downsampled copies, where
   the ratio is better conditioned. The sharpest edges' blur (a low quantile: lens, demosaic,
   JPEG) is subtracted in quadrature, so in-focus parts read as in focus -- an addition to
   the paper, needed because magnify must leave in-focus pixels alone.
3. Propagation: the sparse edge estimates are spread over the image by normalized guided
   filtering (edge-aware, a fast stand-in for the paper's matting-Laplacian solve), coarse to
   fine on a downsampled grid, cleaned by a grey-level opening (isolated over-estimates on
   in-focus texture go, large blurred regions stay), optionally closed (``hole_radius``: small
   in-focus holes inside blurred regions filled), then carried to full resolution by joint
   guided upsampling.

Units (DESIGN.md): the output is the **CoC radius in pixels of the input image**. Zhuo & Sim
estimate a Gaussian sigma; we convert with ``radius = 2 * sigma`` (the project's documented
conversion, sigma = radius / 2).
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.ops.checks import check_image
from defocus_cli.ops.color import luminance
from defocus_cli.ops.guided import guided_filter, guided_upsample

#: Long side (px) of the working image: bounds cost at any input size.
WORKING_LONG_SIDE = 1024
#: Re-blur sigma (working px).
SIGMA0 = 1.0
#: Largest blur sigma the ratio can resolve before it drowns in noise (working px).
MAX_SIGMA = 8.0
#: Apparent blur of an ideal step under the discrete gradient (px).
SOBEL_SIGMA = 0.8
#: Radius conversion of the project's convention.
RADIUS_PER_SIGMA = 2.0
#: Radius (working px) of the opening that removes isolated blur over-estimates.
OPENING_RADIUS = 12
#: Edge-sigma quantile taken as the photo's in-focus sharpness.
BASELINE_QUANTILE = 0.1


def _gradient_magnitude(gray: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    return np.sqrt(gx * gx + gy * gy)


def _edge_sigma_one_scale(gray: np.ndarray) -> np.ndarray:
    """Gaussian sigma (px of ``gray``) implied by the re-blur gradient ratio, everywhere."""
    g0 = _gradient_magnitude(gray)
    g1 = _gradient_magnitude(cv2.GaussianBlur(gray, (0, 0), SIGMA0))
    ratio = g0 / np.maximum(g1, 1e-6)
    sigma = SIGMA0 / np.sqrt(np.maximum(ratio * ratio - 1.0, 1e-6))
    # Discrete (Sobel) gradients see an ideal step as blurred by ~0.8 px (measured on
    # anti-aliased synthetic steps): remove it in quadrature.
    return np.sqrt(np.maximum(sigma * sigma - SOBEL_SIGMA**2, 0.0)).astype(np.float32)


def _edges(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canny edges and a contrast weight in [0, 1] at them."""
    u8 = np.clip(gray * 255.0, 0, 255).astype(np.uint8)
    edges = cv2.Canny(u8, 20, 50, L2gradient=True) > 0
    if edges.sum() < 50:  # low-contrast photo: lower the bar rather than return nothing
        edges = cv2.Canny(u8, 5, 15, L2gradient=True) > 0
    g0 = _gradient_magnitude(gray)
    top = float(np.quantile(g0[edges], 0.9)) if edges.any() else 1.0
    return edges, np.where(edges, np.clip(g0 / max(top, 1e-6) * 2.0, 0.0, 1.0), 0.0).astype(np.float32)


def sparse_edge_sigma(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blur sigma (px) at edge pixels and a confidence weight (0 off edges).

    The ratio is well conditioned only for sigma up to about 2.5 * SIGMA0, and strongly
    blurred edges are too faint for an edge detector at full scale; so edges and ratios are
    also taken on 2x and 4x downsampled copies (where blurs are 2x, 4x smaller), each scale
    contributing the samples in its reliable range.
    """
    h, w = gray.shape
    total = np.zeros((h, w), np.float32)
    weights = np.zeros((h, w), np.float32)
    for level in (0, 1, 2):
        factor = 2**level
        if min(h, w) // factor < 16:
            break
        small = gray if level == 0 else cv2.resize(gray, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
        sigma = _edge_sigma_one_scale(small)
        edges, weight = _edges(small)
        low = 0.0 if level == 0 else 1.25 * SIGMA0
        weight = np.where((sigma >= low) & (sigma <= 2.5 * SIGMA0), weight, 0.0).astype(np.float32)
        sigma = np.float32(factor) * np.minimum(sigma, 2.5 * SIGMA0)
        if level:
            sigma = cv2.resize(sigma, (w, h), interpolation=cv2.INTER_NEAREST)
            weight = cv2.resize(weight, (w, h), interpolation=cv2.INTER_NEAREST)
        total += sigma * weight
        weights += weight
    sigma = np.where(weights > 0, total / np.maximum(weights, 1e-6), 0.0)
    return np.clip(sigma, 0.0, MAX_SIGMA).astype(np.float32), np.clip(weights, 0.0, 1.0)


def _remove_baseline(sigma: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Subtract (in quadrature) the blur of the sharpest edges: lens, demosaicing and JPEG
    soften even in-focus edges by ~0.5-1 px, which must read as in focus (radius < 0.5)."""
    values = sigma[weight > 0.25]
    if values.size < 20:
        return sigma
    baseline = float(np.quantile(values, BASELINE_QUANTILE))
    return np.sqrt(np.maximum(sigma * sigma - baseline * baseline, 0.0)).astype(np.float32)


def _propagate(guide: np.ndarray, sparse: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Dense map from weighted sparse samples, edge-aware, coarse scales fill large gaps."""
    h, w = sparse.shape
    estimate: np.ndarray | None = None
    for radius in (48, 16, 6):
        num = guided_filter(guide, sparse * weight, radius, 1e-3)
        den = guided_filter(guide, weight, radius, 1e-3)
        den = np.maximum(den, 0.0)
        local = num / np.maximum(den, 1e-4)
        confidence = np.clip(den / 0.02, 0.0, 1.0)
        estimate = local if estimate is None else confidence * local + (1.0 - confidence) * estimate
        # Where no edge is anywhere near even at the coarsest scale, fall back to the mean.
        if radius == 48:
            fallback = float((sparse * weight).sum() / max(weight.sum(), 1e-6))
            estimate = confidence * estimate + (1.0 - confidence) * fallback
    assert estimate is not None
    return np.clip(guided_filter(guide, estimate.astype(np.float32), 4, 1e-3), 0.0, MAX_SIGMA)


def classical_defocus_map(image_srgb: np.ndarray, hole_radius: int = 0) -> np.ndarray:
    """Defocus map of a photo: HxW float32 CoC radius in px of the input (unsigned, >= 0).

    ``image_srgb``: HxWx3 float32 sRGB in [0, 1] (or HxW gray). ``hole_radius`` (working px,
    0 = off): a grey-level closing after the opening, so in-focus islands narrower than about
    twice this inside a blurred region take their surroundings' blur. An edge that is sharp
    (a whisker crossing a blurred background) spreads "in focus" over a blob of its
    surroundings; a magnification that keeps that blob as it is, while blurring round it,
    leaves a visible speck.

    >>> img = np.zeros((64, 64, 3), np.float32); img[:, 32:] = 1.0
    >>> m = classical_defocus_map(img)
    >>> m.shape, bool(m.max() < 1.0)
    ((64, 64), True)
    """
    check_image(image_srgb, "image_srgb", channels=(1, 3))
    x = np.asarray(image_srgb, np.float32)
    gray = luminance(x) if x.ndim == 3 else x
    h, w = gray.shape
    scale = min(1.0, WORKING_LONG_SIDE / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        work = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        guide = cv2.resize(x, size, interpolation=cv2.INTER_AREA)
    else:
        work, guide = gray, x
    sigma, weight = sparse_edge_sigma(work)
    sigma = _remove_baseline(sigma, weight)
    dense_sigma = _propagate(guide, sigma, weight)
    # Grey-level opening: texture inside an in-focus subject (fur, hair) gives isolated
    # over-estimates; blurred regions are large and survive the opening unchanged.
    side = 2 * OPENING_RADIUS + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    dense_sigma = cv2.morphologyEx(dense_sigma, cv2.MORPH_OPEN, kernel)
    if hole_radius > 0:
        side = 2 * hole_radius + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
        dense_sigma = cv2.morphologyEx(dense_sigma, cv2.MORPH_CLOSE, kernel)
    dense_sigma = guided_filter(guide, dense_sigma, 4, 1e-3)
    radius_work = RADIUS_PER_SIGMA * dense_sigma
    if scale < 1.0:
        # Radii are in working px; the input's pixels are 1/scale times smaller.
        radius = guided_upsample(x, radius_work / np.float32(scale), radius=int(round(8 / scale)), eps=1e-3)
    else:
        radius = radius_work
    return np.clip(radius, 0.0, None).astype(np.float32)
