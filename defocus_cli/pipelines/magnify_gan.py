"""Defocus magnification with the seed-000 cGAN (``magnify --method gan``).

The generator learned r -> m*r on narrow-aperture images whose blur is a few pixels (its
training data: CoC radius K ~ U(1.5, 5) px with focus inside the scene, so the blurred
pixels of a training image have a radius of about 1-3 px). A photo's background blur is
often ten times that, so the network runs at a *working resolution* where the photo's blur
looks like its training blur:

1. Blur scale: a high quantile (:data:`BLUR_QUANTILE`) of the defocus map's radius over the
   pixels it calls blurred (radius >= 0.5 px); the map is the classical estimate less its
   noise floor (as for ``--method map``: a smaller floor lets the network change sharp
   pixels the estimator misreads, in-focus PSNR below 45 dB on held-out aperture stacks)
   or the user's ``--defocus-map``.
2. Working scale ``f = blur / WORKING_BLUR_PX`` (never below 1), bounded so the long side
   stays within [:data:`MIN_WORKING_PX`, :data:`MAX_WORKING_PX`]; with no blurred pixel at
   all there is nothing to magnify.
3. The generator runs once on the whole working image (its instance normalization sees the
   whole frame, so no tiles), reflect-padded to its stride, with the composite focus measure
   of that image and ``m``.
4. Its residual (output - input, Eq. 4) is carried to full resolution by joint guided
   upsampling along the photo's edges and added to the photo, faded in over
   :data:`FEATHER_PX` of radius above the in-focus threshold; pixels the defocus map calls
   in focus keep their exact input values.

Only the working image goes through the network, so memory is bounded on 24 MP photos.

Example::

    out_srgb = magnify_gan(image_srgb, 2.0, model, defocus_map_px)  # model: a LoadedModel
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from defocus_cli.models import preprocess, tiling
from defocus_cli.models.network import Network
from defocus_cli.ops.checks import check_image, check_map
from defocus_cli.ops.focus import composite_focus_measure
from defocus_cli.ops.guided import guided_upsample
from defocus_cli.ops.lens import IN_FOCUS_RADIUS_PX
from defocus_cli.pipelines.scale_match import shrink

#: Working-resolution blur (px) the photo's blur scale is brought to. The narrow training
#: images' blurred pixels lie around 1-3 px. On held-out aperture stacks 2 px beat 1.5 px;
#: 2.5-3 px gained a little more PSNR but let in-focus PSNR fall below 45 dB with estimated
#: maps; a fixed working long side did as well only where the blur grows with the frame.
WORKING_BLUR_PX = 2.0
#: Quantile of the blurred pixels' radius taken as the photo's blur scale.
BLUR_QUANTILE = 0.9
#: Bounds of the working long side: below the minimum the network lacks context (its
#: training crops were 96 px); above the maximum time and memory grow with no gain.
MIN_WORKING_PX = 96
MAX_WORKING_PX = 1024
#: The generator halves twice; exported graphs take sides of ``stride * k`` with k >= 2.
GENERATOR_STRIDE = 4
#: Joint guided upsampling of the residual: window radius in working px, regularization in
#: sRGB units squared.
GUIDED_RADIUS_WORKING_PX = 1
GUIDED_EPS = 1e-4
#: Radius (px) over which the network's change fades in above the in-focus threshold. Just
#: above it an estimated map is least sure: on held-out aperture stacks the fade keeps truly
#: sharp pixels above 46 dB of the input (44.8 dB at 0.5 px, 42.4 dB with a hard mask) for
#: about 0.15 dB of overall PSNR, and it leaves no seam where the mask ends.
FEATHER_PX = 1.0
INPUT_NAMES = ("image", "focus", "m")


def blur_scale_px(defocus_map_px: np.ndarray) -> float:
    """The photo's blur scale (px): the :data:`BLUR_QUANTILE` of the radius over the pixels
    that are not in focus; 0 when every pixel is in focus."""
    r = np.asarray(defocus_map_px, np.float32)
    blurred = r[r >= IN_FOCUS_RADIUS_PX]
    return float(np.quantile(blurred, BLUR_QUANTILE)) if blurred.size else 0.0


def working_scale(height: int, width: int, blur_px: float) -> float:
    """Shrink factor f >= 1 that brings ``blur_px`` to :data:`WORKING_BLUR_PX`, with the long
    side / f kept within [MIN_WORKING_PX, MAX_WORKING_PX] (never upscaled)."""
    long_side = max(height, width)
    scale = max(1.0, blur_px / WORKING_BLUR_PX)
    scale = min(scale, max(1.0, long_side / MIN_WORKING_PX))
    return max(scale, long_side / MAX_WORKING_PX, 1.0)


def run_generator(model: Network, image_srgb: np.ndarray, m: float) -> np.ndarray:
    """The generator's output for an HxWx3 sRGB image in one pass: HxWx3 float32, unclipped."""
    spec = model.spec
    stride = math.lcm(max(1, spec.stride), GENERATOR_STRIDE)
    height, width = image_srgb.shape[:2]
    padded, _ = tiling.pad_to_stride(image_srgb, stride, min_strides=2)
    padded = np.ascontiguousarray(padded, np.float32)
    feed = {
        INPUT_NAMES[0]: preprocess.to_network(padded, spec.preprocessing),
        INPUT_NAMES[1]: preprocess.hwc_to_nchw(composite_focus_measure(padded)),
        INPUT_NAMES[2]: np.full((1, 1), m, np.float32),
    }
    outputs = model.run(feed)
    name = spec.outputs[0].name if spec.outputs else next(iter(outputs))
    out = preprocess.from_network(np.asarray(outputs[name], np.float32), spec.preprocessing)
    return out[:height, :width]


def upsample_residual(residual_low: np.ndarray, guide_srgb: np.ndarray, scale: float) -> np.ndarray:
    """Carry an hxwx3 working-resolution residual to the guide's HxW along its edges."""
    height, width = guide_srgb.shape[:2]
    if residual_low.shape[:2] == (height, width):
        return residual_low
    radius = max(1, round(GUIDED_RADIUS_WORKING_PX * scale))
    out = np.empty((height, width, 3), np.float32)
    for c in range(3):
        out[..., c] = guided_upsample(guide_srgb, np.ascontiguousarray(residual_low[..., c]), radius, GUIDED_EPS)
    return out


def magnify_gan(image_srgb: np.ndarray, m: float, model: Network, defocus_map_px: np.ndarray, *,
                info: dict[str, Any] | None = None) -> np.ndarray:
    """Magnify the defocus blur of a photo by ``m`` with the cGAN: HxWx3 float32 sRGB [0, 1].

    ``image_srgb``: HxWx3 float32 sRGB in [0, 1]; ``defocus_map_px``: HxW CoC radius in px of
    this image (unsigned) that sets the working resolution and the in-focus pixels (< 0.5 px),
    which are returned exactly. ``m == 1`` returns the input. ``info``, when given, receives
    ``blur_scale_px`` and ``working_size`` ("WxH"; absent when nothing was run).
    """
    check_image(image_srgb, "image_srgb", channels=(3,))
    image = np.asarray(image_srgb, np.float32)
    height, width = image.shape[:2]
    check_map(defocus_map_px, "defocus_map_px", (height, width))
    if not 1.0 <= m <= 4.0:
        raise ValueError(f"magnification must be in [1, 4], got {m}")
    in_focus = np.asarray(defocus_map_px) < IN_FOCUS_RADIUS_PX
    if m == 1.0 or in_focus.all():
        return image.copy()
    blur_px = blur_scale_px(defocus_map_px)
    scale = working_scale(height, width, blur_px)
    size = (max(1, round(height / scale)), max(1, round(width / scale)))
    if info is not None:
        info.update(blur_scale_px=round(blur_px, 2), working_size=f"{size[1]}x{size[0]}")
    small = shrink(image, size)
    residual = run_generator(model, small, m) - small
    out = upsample_residual(residual, image, scale)
    weight = np.clip((np.asarray(defocus_map_px, np.float32) - IN_FOCUS_RADIUS_PX) / np.float32(FEATHER_PX), 0.0, 1.0)
    out *= weight[..., None]
    out += image
    np.clip(out, 0.0, 1.0, out=out)
    np.copyto(out, image, where=in_focus[..., None])
    return out
