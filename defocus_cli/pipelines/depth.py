"""Depth of a photo: normalized inverse depth in [0, 1], 1 = nearest (DESIGN.md), at the
photo's resolution.

The network runs at a working resolution (the spec's ``working_resolution`` as the long
side, else :data:`DEFAULT_WORKING_PX`; never upscaled), reflect-padded to its stride. Its raw
output is brought into the project's convention:

- a DeepLens depth graph already returns per-image min-max normalized inverse depth; it is
  min-max normalized again over the photo's own pixels (the padding took part in the graph's);
- any other model (Depth Anything V2: relative inverse depth, larger = nearer, any offset and
  scale) is normalized between its :data:`ROBUST_PERCENTILES`, so a few outliers (specular
  glints, sky noise) do not squash the rest, and clipped to [0, 1].

The network sees the photo and its left-right mirror, and the two maps are averaged
(:func:`~defocus_cli.ops.views.averaged_over_views`): with the previous release's single
deeplens-depth-cpu network that lowered the held-out synthetic MAE from 0.107 to 0.103 and,
on the Middlebury photo, AbsRel from 0.341 to 0.323, for a second pass at the small working
size. A spec may also name offsets (``extra['view_shifts_px']``, ``defocus export --view-shift``) by
which both views are shifted as well, each a further pair of passes: deeplens-depth-cpu
names half its stride (4 px), which its poolings see differently; with that same network
the four maps lowered the MAE on all four held-out synthetic sets measured and raised the
Middlebury Spearman from 0.680 to 0.687 (docs/MODELS.md).

A DeepLens graph's averaged map is smoothed along the photo's colour edges at the working
size (:func:`defocus_cli.ops.edge_aware.domain_transform_smooth`): its coarse maps are
blotchy inside objects, and spreading values over each surface, stopped by strong colour
edges, lowered the MAE on every held-out synthetic set measured and left the Middlebury
photo level. Other models (Depth Anything runs at 518 px) are left as they are.

The working-resolution map is carried to full resolution by joint guided upsampling with the
photo as guide (:func:`defocus_cli.ops.guided.guided_upsample`), so depth edges snap to the
photo's edges.

A DeepLens depth graph also has a :data:`SUBJECT_OUTPUT`: its segmentation head's probability
that a pixel belongs to the nearest subject (Eq. 1). :func:`predict_depth_and_subject` returns
it at the working resolution (automatic focus only needs it coarse); other models have none.

Example::

    depth_inv_norm = predict_depth(image_srgb, model)   # model: a LoadedModel of task "depth"
    prediction = predict_depth_and_subject(image_srgb, model)
    prediction.depth, prediction.subject                 # subject: None without that output
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from defocus_cli.models import preprocess, tiling
from defocus_cli.models.network import Network
from defocus_cli.models.registry import ModelSpec
from defocus_cli.ops.checks import check_image
from defocus_cli.ops.edge_aware import domain_transform_smooth
from defocus_cli.ops.guided import guided_upsample
from defocus_cli.ops.views import averaged_over_views, listed_view_shifts

#: Long side the network sees when its spec names no working resolution (DeepLens' depth
#: module is trained on small synthetic scenes; the scene layout matters, not fine detail).
DEFAULT_WORKING_PX = 384
#: Percentiles mapped to 0 and 1 for models whose output has an arbitrary scale and offset.
ROBUST_PERCENTILES = (1.0, 99.0)
#: Guided upsampling window radius, in working-resolution pixels, and regularization
#: (sRGB units squared): large enough to smooth the upsampling, small enough to follow edges.
GUIDED_RADIUS_WORKING_PX = 2
GUIDED_EPS = 1e-3
#: Edge-aware smoothing of a DeepLens graph's working-resolution map: spatial sigma as a
#: fraction of the working long side, and the colour step (sRGB, summed over channels) that
#: weighs as much as that distance (docs/MODELS.md).
EDGE_AWARE_SIGMA_FRACTION = 0.25
EDGE_AWARE_SIGMA_RANGE = 0.2
#: ``spec.extra['units']`` prefix of graphs that normalize their output themselves.
NORMALIZED_UNITS = "normalized inverse depth"
#: Name of a depth graph's optional second output: the subject probability in [0, 1].
SUBJECT_OUTPUT = "subject"


@dataclass
class DepthPrediction:
    """``depth``: HxW normalized inverse depth at the photo's resolution; ``subject``: the
    network's subject probability at its working resolution, or None if it has none."""

    depth: np.ndarray
    subject: np.ndarray | None


def working_size(height: int, width: int, long_side_px: int) -> tuple[int, int]:
    """(h, w) with the long side at most ``long_side_px``, aspect ratio kept, never upscaled."""
    scale = min(1.0, long_side_px / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def normalize_depth(raw: np.ndarray, robust: bool) -> np.ndarray:
    """Map a relative inverse depth (larger = nearer) to [0, 1]: min-max, or between
    :data:`ROBUST_PERCENTILES` when ``robust``. A constant map becomes all 0.5."""
    values = np.nan_to_num(np.asarray(raw, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if robust:
        low, high = (float(v) for v in np.percentile(values, ROBUST_PERCENTILES))
    else:
        low, high = float(values.min()), float(values.max())
    if not high > low:
        return np.full(values.shape, 0.5, np.float32)
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


def _output_map(out: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The single HxW map from an NHW or N1HW output, resized to ``size`` if the network
    returns another resolution."""
    out = np.asarray(out, np.float32)
    if out.ndim == 4 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 3 or out.shape[0] != 1:
        raise ValueError(f"a depth network must return 1xHxW or 1x1xHxW, got shape {out.shape}")
    depth = out[0]
    if depth.shape != size:
        depth = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return depth


def predicts_normalized(spec: ModelSpec) -> bool:
    """True for graphs whose output is already per-image normalized inverse depth (DeepLens)."""
    return str(spec.extra.get("units", "")).startswith(NORMALIZED_UNITS)


def _run_network(image_srgb: np.ndarray, model: Network) -> np.ndarray:
    """The network's raw maps of a working-size photo (reflect-padded to its stride), HxWxC:
    the depth, then the subject probability when the graph has that output."""
    spec = model.spec
    padded, size = tiling.pad_to_stride(preprocess.encode(image_srgb, spec.preprocessing), spec.stride, min_strides=2)
    input_name = spec.inputs[0].name if spec.inputs else "image"
    outputs = model.run({input_name: preprocess.hwc_to_nchw(padded)})
    output_name = spec.outputs[0].name if spec.outputs else next(iter(outputs))
    maps = [_output_map(outputs[output_name], padded.shape[:2])]
    if SUBJECT_OUTPUT in outputs and output_name != SUBJECT_OUTPUT:
        maps.append(_output_map(outputs[SUBJECT_OUTPUT], padded.shape[:2]))
    return tiling.crop(np.stack(maps, axis=-1), size)


def view_shifts(spec: ModelSpec) -> tuple[int, ...]:
    """Offsets (px) the network also sees its views shifted by: 0 and the spec's
    :data:`~defocus_cli.ops.views.VIEW_SHIFTS_KEY`, if any (each a non-negative integer)."""
    return listed_view_shifts(spec.extra)


def predict_depth(image_srgb: np.ndarray, model: Network, *, working_px: int | None = None) -> np.ndarray:
    """Normalized inverse depth (HxW float32 in [0, 1], 1 = nearest) of an HxWx3 sRGB photo.

    ``model``: a depth network with one image input and a depth output (NHW or N1HW), first;
    ``working_px`` overrides the long side it runs at.
    """
    return predict_depth_and_subject(image_srgb, model, working_px=working_px).depth


def predict_depth_and_subject(image_srgb: np.ndarray, model: Network, *,
                              working_px: int | None = None) -> DepthPrediction:
    """:func:`predict_depth`'s depth, and the subject probability (working resolution) of a
    graph with a :data:`SUBJECT_OUTPUT`, both averaged with the mirror image's."""
    check_image(image_srgb, "image_srgb", channels=(3,))
    spec = model.spec
    height, width = image_srgb.shape[:2]
    long_side = working_px or spec.working_resolution or DEFAULT_WORKING_PX
    small_size = working_size(height, width, long_side)
    small = image_srgb
    if small_size != (height, width):
        small = cv2.resize(image_srgb, (small_size[1], small_size[0]), interpolation=cv2.INTER_AREA)
    maps = averaged_over_views(lambda view: _run_network(view, model), small, view_shifts(spec))
    subject = np.clip(maps[..., 1], 0.0, 1.0).astype(np.float32) if maps.shape[-1] > 1 else None
    raw = maps[..., 0]
    if predicts_normalized(spec):
        raw = domain_transform_smooth(raw, small, EDGE_AWARE_SIGMA_FRACTION * max(small_size), EDGE_AWARE_SIGMA_RANGE)
    depth_small = normalize_depth(raw, robust=not predicts_normalized(spec))
    if small_size == (height, width):
        return DepthPrediction(depth_small, subject)
    radius = max(1, round(GUIDED_RADIUS_WORKING_PX * max(height, width) / max(small_size)))
    depth = guided_upsample(np.asarray(image_srgb, np.float32), depth_small, radius, GUIDED_EPS)
    return DepthPrediction(np.clip(depth, 0.0, 1.0).astype(np.float32), subject)
