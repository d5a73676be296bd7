"""Learned defocus map: DMENet's blur network B (seed 002, task ``defocus-map``).

B regresses the CoC radius in px *of its input*, and it only knows radii up to the training
maximum (``spec.extra['training_max_coc_radius_px']``, 10 px for the shipped widths) on
crops about 96 px wide. A photo's blur can be ten times that, so B runs at a *working
resolution* where the photo's blur lies inside the trained range:

1. a copy at most :data:`MAX_WORKING_PX` on its long side (bounded cost and memory);
2. its blur scale: the :data:`BLUR_PERCENTILE` th percentile of the classical defocus map of
   that copy (:mod:`defocus_cli.ops.defocus_classical`; no network needed);
3. the copy is shrunk further by ``f = blur / target`` (never enlarged, long side at least
   :data:`MIN_WORKING_PX`), ``target = TARGET_FRACTION * training maximum`` (5 px);
4. B runs on four views of the working image (it, its left-right mirror, and both shifted by
   half B's stride), each reflect-padded to its stride (16, at least two strides per side),
   and the four maps are averaged (:func:`~defocus_cli.ops.views.averaged_over_views`); that times the total shrink
   factor is the radius in input px;
5. joint guided upsampling carries the map to full resolution along the photo's edges
   (:func:`defocus_cli.ops.guided.guided_upsample`, computed in bands).

Why this rule (measured with a partially trained cpu-width B, 5000 steps; MAE in px, SYNDOF-
style Gaussian layering, 10 data-engine scenes per set):

- scenes rendered at 512x384 and area-downscaled to 256x192 and 128x96, blur scaled alike
  (max CoC 3-10 px at 128 px): a *fixed* working long side is best at 128 px at every scale
  (MAE per unit of scale 1.29 / 1.32 / 1.32 at 1x / 2x / 4x; 96 px: 1.41 / 1.38 / 1.39;
  256 px: - / 1.87 / 1.88; full size: 1.29 / 1.87 / 2.73);
- 512x384 scenes (rendered at twice that and downscaled, so pixel-sharp) with less blur for
  their size, as in most photos (max CoC 3 / 6 / 12 / 24 px): 128 px is then the worst side
  (MAE 7.1 / 7.0 / 7.2 / 6.7); the best follows the blur (full size 3.4 / 2.6 for 3 and
  6 px, 384 px 2.9 for 12 px, 192 px 5.8 for 24 px);
- this rule (classical 90th percentile brought to 5 px) tracks both: 1.28 / 1.19 / 1.93 and
  3.9 / 3.4 / 3.4 / 6.7, on average 1.16x the MAE of the best fixed side chosen per set
  (fixed 128 px: 1.64x; 256 px: 1.40x; full size: 1.31x; B's own coarse map in place of the
  classical one: 1.22x at best, since B reads flat texture as blur). Targets of 4 / 6 / 7 px
  give 1.19x / 1.15x / 1.17x: 5 px, half the trained maximum, is within that noise.

Example::

    coc_radius_px = learned_defocus_map(image_srgb, model)   # a LoadedModel of "defocus-map"
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from defocus_cli.models import preprocess, tiling
from defocus_cli.models.network import Network
from defocus_cli.models.registry import ModelSpec
from defocus_cli.ops.checks import check_image
from defocus_cli.ops.defocus_classical import classical_defocus_map
from defocus_cli.ops.guided import guided_upsample
from defocus_cli.ops.views import averaged_over_views, listed_view_shifts
from defocus_cli.pipelines.scale_match import shrink

#: B halves four times; exported graphs take sides of ``stride * k`` with k >= 2.
DMENET_STRIDE = 16
#: Largest working long side: also the copy the blur scale is measured on.
MAX_WORKING_PX = 1024
#: Smallest working long side: B's training crops were 96 px.
MIN_WORKING_PX = 96
#: Percentile of the classical map taken as the photo's blur scale.
BLUR_PERCENTILE = 90.0
#: The blur scale is brought to this fraction of the trained maximum radius.
TARGET_FRACTION = 0.5
#: Trained maximum CoC radius (px) when the spec does not say (``defocus export`` writes it).
DEFAULT_TRAINED_MAX_PX = 10.0
#: Joint guided upsampling: window radius in working px, regularization in sRGB units squared.
GUIDED_RADIUS_WORKING_PX = 2
GUIDED_EPS = 1e-3
#: Offsets (px) B also sees the working image and its mirror at: none and half its stride
#: (:func:`~defocus_cli.ops.views.averaged_over_views`, 4 passes). On 48 held-out scenes the
#: 13 000-step release scored MAE 0.856 px in one pass, 0.840 with the mirror and 0.826 with
#: the mirror and this shift (the shipped model: 0.768 / 0.753 / 0.748). The offset was
#: chosen on two other sets of 48, where it gained 0.7-0.9 % over the mirror alone;
#: shifting across, down and both (8 passes) gained nothing more. A spec may list its own
#: (``extra['view_shifts_px']``; ``[0]``: the mirror alone).
VIEW_SHIFTS_PX = (0, DMENET_STRIDE // 2)


def target_radius_px(spec: ModelSpec) -> float:
    """Working-resolution radius (px) the photo's blur scale is brought to."""
    trained = float(spec.extra.get("training_max_coc_radius_px", DEFAULT_TRAINED_MAX_PX))
    return TARGET_FRACTION * trained


def working_scale(long_side: int, blur_px: float, target_px: float) -> float:
    """Shrink factor f >= 1 bringing ``blur_px`` to ``target_px``, the working long side kept
    within [MIN_WORKING_PX, MAX_WORKING_PX] (never enlarged).

    >>> working_scale(4000, 100.0, 5.0)
    20.0
    >>> working_scale(4000, 2.0, 5.0)   # little blur: only the size cap applies
    3.90625
    """
    scale = max(1.0, blur_px / target_px)
    scale = min(scale, max(1.0, long_side / MIN_WORKING_PX))
    return max(scale, long_side / MAX_WORKING_PX, 1.0)


def run_network(model: Network, image_srgb: np.ndarray) -> np.ndarray:
    """B on an HxWx3 sRGB image in one pass: HxW float32 CoC radius in px of that image."""
    spec = model.spec
    stride = math.lcm(max(1, spec.stride), DMENET_STRIDE)
    height, width = image_srgb.shape[:2]
    padded, _ = tiling.pad_to_stride(preprocess.encode(image_srgb, spec.preprocessing), stride, min_strides=2)
    input_name = spec.inputs[0].name if spec.inputs else "image"
    outputs = model.run({input_name: preprocess.hwc_to_nchw(padded)})
    output_name = spec.outputs[0].name if spec.outputs else next(iter(outputs))
    out = np.asarray(outputs[output_name], np.float32)
    if out.ndim != 4 or out.shape[:2] != (1, 1) or out.shape[2:] != padded.shape[:2]:
        raise ValueError(f"a defocus-map network must return 1x1x{padded.shape[0]}x{padded.shape[1]}, "
                         f"got shape {out.shape}")
    return np.maximum(tiling.crop(out[0, 0], (height, width)), 0.0)


def learned_defocus_map(image_srgb: np.ndarray, model: Network, *, working_px: int | None = None,
                        info: dict[str, Any] | None = None) -> np.ndarray:
    """CoC radius in px of the input (HxW float32, unsigned) of an HxWx3 sRGB [0, 1] photo.

    ``working_px`` fixes the working long side instead of the blur-driven rule. ``info``, when
    given, receives ``working_size`` ("WxH") and, with the rule, ``blur_scale_px`` (the
    photo's blur scale in its own px).
    """
    check_image(image_srgb, "image_srgb", channels=(3,))
    image = np.asarray(image_srgb, np.float32)
    height, width = image.shape[:2]
    long_side = max(height, width)
    copy_scale = max(1.0, long_side / MAX_WORKING_PX)
    copy = shrink(image, (max(1, round(height / copy_scale)), max(1, round(width / copy_scale))))
    if working_px is not None:
        scale = max(1.0, long_side / working_px)
    else:
        blur_px = float(np.percentile(classical_defocus_map(copy), BLUR_PERCENTILE)) * copy_scale
        scale = working_scale(long_side, blur_px, target_radius_px(model.spec))
        if info is not None:
            info["blur_scale_px"] = round(blur_px, 2)
    size = (max(1, round(height / scale)), max(1, round(width / scale)))
    small = shrink(copy if size[0] <= copy.shape[0] and size[1] <= copy.shape[1] else image, size)
    if info is not None:
        info["working_size"] = f"{size[1]}x{size[0]}"
    # Radii are in px of the working image; the long side gives the exact factor back.
    shifts = listed_view_shifts(model.spec.extra, VIEW_SHIFTS_PX)
    radius_small = averaged_over_views(lambda im: run_network(model, im), small, shifts) * np.float32(long_side / max(size))
    if size == (height, width):
        return radius_small
    radius = max(1, round(GUIDED_RADIUS_WORKING_PX * long_side / max(size)))
    upsampled = guided_upsample(image, radius_small, radius, GUIDED_EPS)
    return np.maximum(upsampled, 0.0, out=upsampled)
