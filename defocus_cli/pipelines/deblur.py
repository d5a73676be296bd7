"""``deblur``: the all-in-focus radiance of a photo, RefocusGAN's first stage (seed 001, Eq. 1).

The network G1 takes the sRGB photo and its SML focus measure (``ops.focus.sml``, the extra
input channel it was trained with) and returns the radiance image. Two ways to run it on a
photo much larger than its training crops (64-96 px):

- ``tiles``: at full resolution, in overlapping 512 px tiles blended with raised-cosine
  weights (``models.tiling.run_tiled``). Memory is bounded and no seam shows, but the network
  only removes blur as wide as it was trained on (a few px); a 24 MP photo's background blur
  of tens of px stays.
- ``scaled``: at the scale where the photo's blur matches training
  (:mod:`defocus_cli.pipelines.scale_match`), also in tiles, then brought back up by detail
  transfer, so the photo's own in-focus detail is kept at full resolution.

Example::

    result = deblur(image_srgb, loaded_model, mode="scaled")
    result.pixels          # HxWx3 float32 sRGB in [0, 1]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from defocus_cli.models import preprocess, tiling
from defocus_cli.models.network import Network
from defocus_cli.ops.checks import check_image
from defocus_cli.ops.focus import sml
from defocus_cli.ops.views import check_passes, flip_averaged
from defocus_cli.pipelines import scale_match

MODES = ("tiles", "scaled")
#: Measured with ``benchmarks/deblur_modes.py`` (docs/MODELS.md): at the training blur
#: ``tiles`` is 0.19 dB ahead; at 2x and 4x that blur, as in any photo larger than the training
#: crops, ``scaled`` wins by 0.09 and 0.84 dB while ``tiles`` falls towards the identity, and
#: it is several times faster.
DEFAULT_MODE = "scaled"
#: Mirrored network runs averaged by default (ops.views), by mode. Measured on held-out focal
#: stacks (docs/MODELS.md): one and four passes deblur to 28.54 and 28.66 dB (K 2-6 px).
#: In ``scaled`` mode the network sees a small copy and four passes cost about 1.7x the
#: command's time at 12 MP (docs/BENCHMARKS.md); in ``tiles`` mode it sees every pixel, one
#: pass already takes longer than the 15 s target there, and four would take four times as long.
DEFAULT_PASSES = {"scaled": 4, "tiles": 1}

#: Tile side and overlap (px of the image the network sees). The generators normalise each
#: tile's features, so tiles should hold enough content for typical statistics; 64 px of
#: overlap (16 px of zero weight at each shared edge) hides what normalisation changes.
TILE_PX = 512
OVERLAP_PX = 64
#: The RefocusGAN generators halve twice: sides must be multiples of 4.
GENERATOR_STRIDE = 4
IMAGE_INPUT, SML_INPUT = "image", "sml"


def passes_for(mode: str, passes: int | None) -> int:
    """The mirrored runs to average: ``passes`` checked, or ``mode``'s default when None."""
    if passes is not None:
        return check_passes(passes)
    if mode not in DEFAULT_PASSES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return DEFAULT_PASSES[mode]


@dataclass
class Deblurred:
    """A deblur result: ``pixels`` HxWx3 float32 sRGB in [0, 1], with how it was made.

    ``scale`` is the working scale (1 = full resolution); ``blur_radius_px`` the photo's
    estimated 95th-percentile CoC radius (``scaled`` mode without a given scale, else None);
    ``passes`` the mirrored network runs averaged.
    """

    pixels: np.ndarray
    mode: str
    scale: float
    blur_radius_px: float | None = None
    passes: int = 1


def network_stride(model: Network) -> int:
    """The multiple the graph needs: the spec's stride, and at least the generators' 4 (a
    user's own file registers stride 1)."""
    return math.lcm(max(1, int(model.spec.stride)), GENERATOR_STRIDE)


def output_name(model: Network) -> str:
    return model.spec.outputs[0].name if model.spec.outputs else "output"


def run_image_network(model: Network, image_srgb: np.ndarray, planes: dict[str, np.ndarray],
                      constants: dict[str, np.ndarray] | None = None, *, tile_px: int = TILE_PX,
                      passes: int = 1) -> np.ndarray:
    """Run an image-to-image network over ``image_srgb`` in seamless tiles, averaged over
    ``passes`` mirrored copies (:mod:`defocus_cli.ops.views`).

    ``planes`` are more per-pixel inputs, name -> HxW or HxWxC, tiled with the image (3-channel
    ones are images and get the spec's encoding, like the image); ``constants`` are fed whole
    to every tile (e.g. ``delta``). Returns HxWx3 float32 sRGB, clipped to [0, 1].
    """
    spec = model.spec
    stride = network_stride(model)
    layers = [np.asarray(image_srgb, np.float32)] + [
        np.asarray(p, np.float32)[..., None] if p.ndim == 2 else np.asarray(p, np.float32) for p in planes.values()
    ]
    widths = [layer.shape[2] for layer in layers]
    stacked = np.concatenate(layers, axis=2)
    # Exported graphs declare sides of stride * k with k >= 2; tiny inputs are edge-padded.
    height, width = stacked.shape[:2]
    stacked = tiling.pad_to_min_side(stacked, 2 * stride)
    names = [IMAGE_INPUT, *planes]
    out_name = output_name(model)

    def network(tile: np.ndarray) -> np.ndarray:
        feed = dict(constants or {})
        start = 0
        for name, channels in zip(names, widths, strict=True):
            part = np.ascontiguousarray(tile[..., start:start + channels])
            start += channels
            if channels == 3:
                part = preprocess.encode(part, spec.preprocessing)
            feed[name] = preprocess.hwc_to_nchw(part)
        out = preprocess.nchw_to_hwc(np.asarray(model.run(feed)[out_name], np.float32))
        return preprocess.decode(out, spec.preprocessing)

    def tiled(array: np.ndarray) -> np.ndarray:
        return tiling.run_tiled(network, array, tile_px=tile_px, overlap_px=OVERLAP_PX, stride=stride)

    out = flip_averaged(tiled, stacked, passes)[:height, :width]
    return np.clip(out, 0.0, 1.0, out=out)


def deblur_network(model: Network, image_srgb: np.ndarray, *, tile_px: int = TILE_PX, passes: int = 1) -> np.ndarray:
    """G1 on ``image_srgb`` as it is: the SML channel is computed on this very image (the
    scale the network sees; SML mirrors with the image), then image and SML go through
    :func:`run_image_network`."""
    return run_image_network(model, image_srgb, {SML_INPUT: sml(image_srgb)}, tile_px=tile_px, passes=passes)


def working_blur_radius_px(model: Network) -> float:
    """The photo blur (px, 95th percentile of the classical map) that ``scaled`` mode brings a
    photo to for this network: its spec's ``working_blur_radius_px`` (set at export from the
    blur it was trained on), else :data:`~defocus_cli.pipelines.scale_match.TARGET_BLUR_RADIUS_PX`."""
    value = model.spec.extra.get("working_blur_radius_px")
    return float(value) if value else scale_match.TARGET_BLUR_RADIUS_PX


def choose_scale(image_srgb: np.ndarray, mode: str, scale: float | None,
                 target_px: float = scale_match.TARGET_BLUR_RADIUS_PX) -> tuple[float, float | None]:
    """(working scale, estimated blur radius or None) for ``mode``; ``scale`` overrides the
    estimate in ``scaled`` mode; ``target_px`` is the blur the network works best at."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "tiles":
        if scale is not None:
            raise ValueError("a working scale is for mode 'scaled'")
        return 1.0, None
    if scale is not None:
        if not 0.0 < scale <= 1.0:
            raise ValueError(f"scale must be in (0, 1], got {scale}")
        return float(scale), None
    blur = scale_match.photo_blur_radius_px(image_srgb)
    return scale_match.matching_scale(blur, target_px), blur


def deblur(image_srgb: np.ndarray, model: Network, *, mode: str = DEFAULT_MODE, scale: float | None = None,
           tile_px: int = TILE_PX, passes: int | None = None) -> Deblurred:
    """The all-in-focus image of ``image_srgb`` (HxWx3 float32 sRGB in [0, 1]).

    ``mode``: ``tiles`` (full resolution) or ``scaled`` (see the module docstring); ``scale``
    fixes the working scale in ``scaled`` mode instead of estimating it; ``passes``: the
    network's mirrored runs averaged (:mod:`defocus_cli.ops.views`; None = the mode's
    :data:`DEFAULT_PASSES`).
    """
    passes = passes_for(mode, passes)
    check_image(image_srgb, "image_srgb", channels=(3,))
    image = np.asarray(image_srgb, np.float32)
    working, blur = choose_scale(image, mode, scale, working_blur_radius_px(model))
    size = scale_match.working_size(*image.shape[:2], working)
    small = scale_match.shrink(image, size)
    radiance = deblur_network(model, small, tile_px=tile_px, passes=passes)
    pixels = scale_match.bring_up(image, small, radiance)
    return Deblurred(np.clip(pixels, 0.0, 1.0, out=pixels), mode, working, blur, passes)
