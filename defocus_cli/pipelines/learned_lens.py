"""Shallow depth of field with the learned DeepLens lens (seed 003 §3.2): lens blur at 1/2 or
1/4 of the network's resolution (its ``levels``) plus its recurrent guided upsampling, both
inside one ONNX graph of task ``lens-blur``.

The graph takes the sRGB photo and the signed depth ``alpha * (D - d_f)`` with
``alpha = K / K_max``: it is trained at its largest aperture ``K_max``
(``spec.extra['max_blur_radius_px']``, 10 px at the training resolution), and smaller
apertures scale the depth. A larger K is rendered at a working resolution shrunk by
``f = K / K_max``, so the network sees at most K_max there (also at most
:data:`MAX_WORKING_PX` on the long side, which bounds time and memory). The result is
resized back, and the detail the shrinking removed is added back where the blur is smaller
than ``f`` px (fully where in focus), so the subject keeps its full-resolution sharpness.
Pixels in focus (CoC < 0.5 px) are the photo's own, fading into the network's render by
1.5 px of CoC.

Example::

    out_srgb = learned_shallow_dof(image_srgb, depth_inv_norm, 0.8, 40.0, lens_model)
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.models import preprocess, tiling
from defocus_cli.models.network import Network
from defocus_cli.ops.checks import check_image, check_map
from defocus_cli.ops.grain import add_grain, estimate_noise_sigma
from defocus_cli.ops.lens import IN_FOCUS_RADIUS_PX, signed_coc_radius

#: K_max when the model's spec does not record it (the DeepLens training default).
DEFAULT_MAX_BLUR_RADIUS_PX = 10.0
#: Longest side the network runs at; larger photos are rendered smaller and resized back.
MAX_WORKING_PX = 2048
#: Tiles bound the network's memory; 64 px of overlap covers the blur (<= K_max px) and the
#: convolutions' reach at the lens's resolution.
TILE_PX = 512
OVERLAP_PX = 64
INPUT_NAMES = ("image", "signed_depth")


def max_blur_radius_px(model: Network) -> float:
    """K_max of a lens-blur model: the CoC radius (px per unit of D) it was trained at."""
    return float(model.spec.extra.get("max_blur_radius_px", DEFAULT_MAX_BLUR_RADIUS_PX))


def working_scale(height: int, width: int, blur_radius_px: float, k_max_px: float) -> float:
    """The shrink factor f >= 1: K / f <= K_max and the long side / f <= MAX_WORKING_PX."""
    return max(1.0, blur_radius_px / k_max_px, max(height, width) / MAX_WORKING_PX)


def _run_network(model: Network, image_srgb: np.ndarray, signed: np.ndarray) -> np.ndarray:
    """HxWx3 sRGB through the graph in tiles (image and signed depth travel as 4 channels)."""
    spec = model.spec
    output_name = spec.outputs[0].name if spec.outputs else "output"

    def network(tile: np.ndarray) -> np.ndarray:
        image = preprocess.encode(np.ascontiguousarray(tile[..., :3]), spec.preprocessing)
        feed = {INPUT_NAMES[0]: preprocess.hwc_to_nchw(image),
                INPUT_NAMES[1]: preprocess.hwc_to_nchw(np.ascontiguousarray(tile[..., 3]))}
        out = preprocess.nchw_to_hwc(np.asarray(model.run(feed)[output_name], np.float32))
        return preprocess.decode(out, spec.preprocessing)

    stacked = np.concatenate([image_srgb, signed[..., None]], axis=2)
    # Pad to two strides per side at least: exported graphs declare sides of stride * k, k >= 2.
    height, width = stacked.shape[:2]
    stacked = tiling.pad_to_min_side(stacked, 2 * spec.stride)
    out = tiling.run_tiled(network, stacked, tile_px=TILE_PX, overlap_px=OVERLAP_PX, stride=spec.stride)
    return out[:height, :width]


def learned_shallow_dof(
    image_srgb: np.ndarray,
    depth_inv_norm: np.ndarray,
    focus_depth: float,
    blur_radius_px: float,
    model: Network,
    *,
    grain: bool = True,
) -> np.ndarray:
    """Render a shallow depth of field with the learned lens: HxWx3 float32 sRGB in [0, 1].

    Same conventions as :func:`defocus_cli.pipelines.shallow_dof.shallow_dof`: sRGB [0, 1]
    all-in-focus photo, D in [0, 1] (1 = nearest), D_focus, K in px of the photo.
    """
    check_image(image_srgb, "image_srgb", channels=(3,))
    check_map(depth_inv_norm, "depth_inv_norm", image_srgb.shape[:2])
    if blur_radius_px < 0:
        raise ValueError(f"blur_radius_px must be >= 0, got {blur_radius_px}")
    image = np.asarray(image_srgb, np.float32)
    depth = np.asarray(depth_inv_norm, np.float32)
    height, width = image.shape[:2]
    k_max = max_blur_radius_px(model)
    scale = working_scale(height, width, blur_radius_px, k_max)
    size = (max(1, round(height / scale)), max(1, round(width / scale)))
    small_image, small_depth = image, depth
    if size != (height, width):
        small_image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        small_depth = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    # alpha = K_work / K_max, with K_work the aperture in working-resolution pixels.
    alpha = min(1.0, blur_radius_px / scale / k_max)
    signed = ((small_depth - np.float32(focus_depth)) * np.float32(alpha)).astype(np.float32)
    out = _run_network(model, small_image, signed)
    coc = signed_coc_radius(depth, focus_depth, blur_radius_px)
    if size != (height, width):
        out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)
        # Detail finer than the working resolution: kept where the blur is smaller than it.
        lost = image - cv2.resize(small_image, (width, height), interpolation=cv2.INTER_LINEAR)
        keep = np.clip(1.0 - np.abs(coc) / np.float32(scale), 0.0, 1.0)
        out += lost * keep[..., None]
    # In-focus pixels stay as they are (DESIGN.md), fading to the network's render over one
    # more pixel of CoC: the small network softens sharp texture it should have passed through.
    focus_keep = np.clip(np.float32(IN_FOCUS_RADIUS_PX + 1.0) - np.abs(coc), 0.0, 1.0)
    out += (image - out) * focus_keep[..., None]
    np.copyto(out, image, where=(focus_keep >= 1.0)[..., None])  # exactly, not to rounding
    if grain:
        out = add_grain(out, coc, estimate_noise_sigma(image))
    return np.clip(out, 0.0, 1.0).astype(np.float32)
