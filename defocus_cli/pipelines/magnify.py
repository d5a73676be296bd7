"""Defocus magnification: the photo the same camera takes with an aperture m times wider.

``method='map'``: estimate (classically, or fused with a defocus-map network) or take the
unsigned defocus map r (CoC radius, px), then render
the *added* blur. DESIGN.md's convention for unsigned maps: the blurrier surface is taken to
lie behind the focus plane (the portrait case), and a disc of radius ``r * sqrt(m^2 - 1)`` is
added, the renderer's approximation of r -> m * r (disc radii add roughly in quadrature).
In-focus pixels (r < 0.5 px) stay exactly as they are. An estimated map first loses
``ESTIMATE_NOISE_FLOOR_PX`` of radius, the estimators' noise on in-focus texture.

``method='gan'``: the seed-000 cGAN (:mod:`defocus_cli.pipelines.magnify_gan`), run at a
working resolution set by the same defocus map, which also marks the in-focus pixels that
are returned exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from defocus_cli.models.network import Network
from defocus_cli.ops.bokeh import DISC, Bokeh
from defocus_cli.ops.checks import check_image, check_map
from defocus_cli.ops.defocus_classical import classical_defocus_map
from defocus_cli.ops.lens import IN_FOCUS_RADIUS_PX
from defocus_cli.ops.render import DEFAULT_HIGHLIGHTS
from defocus_cli.pipelines._render import render_srgb
from defocus_cli.pipelines.defocus_learned import learned_defocus_map
from defocus_cli.pipelines.magnify_gan import magnify_gan

MIN_MAGNIFICATION = 1.0
MAX_MAGNIFICATION = 4.0
METHODS = ("map", "gan")
#: Radius (px) subtracted from an estimated defocus map before magnifying: the classical
#: estimator's typical error on in-focus texture.
ESTIMATE_NOISE_FLOOR_PX = 1.0
#: Radius (working px of the classical estimator) of the in-focus holes filled in its map:
#: a sharp edge inside a blurred region (a whisker over the background) reads as a small
#: in-focus blob, which a magnification would leave as a speck in the new blur.
ESTIMATE_HOLE_RADIUS = 6
#: Classical radius (px) from which the fused map takes the network's radius instead of the
#: smaller of the two, reached over ``CLASSICAL_SURE_RAMP_PX``. The classical estimator
#: over-reads soft in-focus texture by about a pixel but under-reads real blur (1.7 px for
#: 2.5 px on held-out stacks); above 1.5-2 px its "blurred" is reliable and the network
#: measures how much better.
CLASSICAL_SURE_PX = 1.5
CLASSICAL_SURE_RAMP_PX = 0.5


def added_coc_radius(defocus_map_px: np.ndarray, m: float) -> np.ndarray:
    """Signed CoC radius (px) to render on top of the photo: ``-r * sqrt(m^2 - 1)`` (behind
    the focus plane), 0 where the photo is in focus."""
    r = np.maximum(np.asarray(defocus_map_px, np.float32), 0.0)
    added = -r * np.float32(math.sqrt(max(m * m - 1.0, 0.0)))
    added[r < IN_FOCUS_RADIUS_PX] = 0.0
    return added.astype(np.float32)


def estimated_defocus_map(image_srgb: np.ndarray, map_model: Network | None = None) -> np.ndarray:
    """The estimated defocus map less its noise floor: HxW CoC radius (px) of the photo.

    Classical, or with ``map_model`` (a ``defocus-map`` network) *fused*: the smaller of the
    classical and the learned radius at each pixel, except where the classical map reads
    clear blur (``CLASSICAL_SURE_PX``), where the network's radius is taken. Each estimator
    over-reads blur in its own places (the classical one on soft in-focus texture, the network
    on fine sharp texture far from its training scale), and a magnification must not blur what
    is sharp, so the fused map takes whichever says sharper until both say blurred; it never
    adds blur where the network would not. The classical map's small in-focus holes are
    filled first (``ESTIMATE_HOLE_RADIUS``), so a sharp edge inside a blurred region leaves no
    speck. Measured on held-out aperture stacks and on renders of a real photo
    (docs/MODELS.md).

    The estimates scatter by about a pixel on in-focus texture (fur, hair, eyes); magnifying
    that noise would soften the subject, so the floor is taken off last.
    """
    if map_model is None:
        radius = classical_defocus_map(image_srgb)
    else:
        # Holes are filled only where the network is there to veto: a truly sharp island
        # reads sharp to it too and survives the minimum (classical alone, filling cost
        # in-focus pixels on held-out aperture stacks).
        classical = classical_defocus_map(image_srgb, hole_radius=ESTIMATE_HOLE_RADIUS)
        learned = learned_defocus_map(image_srgb, map_model)
        radius = np.minimum(classical, learned)
        sure = np.clip((classical - np.float32(CLASSICAL_SURE_PX)) / np.float32(CLASSICAL_SURE_RAMP_PX), 0.0, 1.0)
        radius += sure * (learned - radius)
    return np.maximum(radius - np.float32(ESTIMATE_NOISE_FLOOR_PX), 0.0)


def magnify(
    image_srgb: np.ndarray,
    m: float,
    method: str = "map",
    *,
    defocus_map_px: np.ndarray | None = None,
    bokeh: Bokeh = DISC,
    highlights: tuple[float, float] | None = DEFAULT_HIGHLIGHTS,
    grain: bool = True,
    model: Network | None = None,
    map_model: Network | None = None,
    info: dict[str, Any] | None = None,
) -> np.ndarray:
    """Magnify the defocus blur of a photo by ``m`` in [1, 4]; HxWx3 float32 sRGB in [0, 1].

    ``image_srgb``: HxWx3 float32 sRGB [0, 1]. ``defocus_map_px``: HxW CoC radius in px of
    this image (unsigned), or None to estimate it (:func:`estimated_defocus_map`: classical, or
    fused with ``map_model``, a defocus-map network). ``m == 1`` returns the input.
    ``model``: the magnify network, needed by ``method='gan'`` (``bokeh``, ``highlights`` and
    ``grain`` are the renderer's and apply to ``'map'`` only). ``info``, when given, receives
    what the method chose (the gan's working size and blur scale).
    """
    check_image(image_srgb, "image_srgb", channels=(3,))
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not MIN_MAGNIFICATION <= m <= MAX_MAGNIFICATION:
        raise ValueError(f"magnification must be in [1, 4], got {m}")
    image = np.asarray(image_srgb, np.float32)
    if method == "gan" and model is None:
        raise ValueError("method 'gan' needs the magnify model")
    if m == 1.0:
        return image.copy()
    if defocus_map_px is None:
        defocus_map_px = estimated_defocus_map(image, map_model)  # a given map is trusted as it is
    check_map(defocus_map_px, "defocus_map_px", image.shape[:2])
    if method == "gan":
        assert model is not None
        return magnify_gan(image, m, model, defocus_map_px, info=info)
    coc = added_coc_radius(defocus_map_px, m)
    return render_srgb(image, coc, bokeh=bokeh, highlights=highlights, grain=grain)
