"""A real photograph with measured depth, as a scene the light-field renderer can image.

scikit-image ships the Middlebury 2014 motorcycle stereo pair with its disparity (the photo
is reserved: never a training texture). Seen through :func:`defocus_cli.data.lightfield.render`
it gives aperture pairs with real textures and real geometry, and a ground-truth defocus map:
a held-out check that synthetic scenes cannot give.

The scene is one opaque layer whose disparity varies per pixel (the renderer cuts it into
slabs), so what a wide aperture would see behind a foreground edge is not there; the narrow
and the wide render miss it alike.

Example::

    for pair in middlebury_aperture_pairs(long_side=320):
        pair["narrow"], pair["wide"], pair["m"], pair["coc_radius_px"]
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import cv2
import numpy as np

from defocus_cli.data.lightfield import render
from defocus_cli.data.scene import Layer, Scene
from defocus_cli.ops.color import srgb_to_linear

#: Where the aperture pairs focus: quantiles of the scene's disparity (far wall, middle, the
#: motorcycle), and the narrow aperture's blur K in px at the photo's native 741 px width.
PAIR_FOCUS_QUANTILES = (0.2, 0.5, 0.85)
PAIR_BLUR_RADII_PX = (3.0, 6.0)
PAIR_MAGNIFICATIONS = (2.0, 3.0, 4.0)
#: Radius (px) of the inpainting that fills the pixels without a measured disparity.
_INPAINT_RADIUS = 5


@cache
def middlebury_motorcycle() -> tuple[np.ndarray, np.ndarray]:
    """The left view (HxWx3 float32 sRGB in [0, 1]) and its disparity (HxW float32 px, NaN
    where the pair gives none). Read-only arrays, loaded once."""
    import skimage.data  # lazy: only these checks need scikit-image

    left, _, disparity = skimage.data.stereo_motorcycle()
    image = np.asarray(left, np.float32)[..., :3] / 255.0
    disparity = np.asarray(disparity, np.float32).copy()
    disparity[~np.isfinite(disparity) | (disparity <= 0)] = np.nan
    image.flags.writeable = False
    disparity.flags.writeable = False
    return image, disparity


def normalized_disparity(disparity_px: np.ndarray) -> np.ndarray:
    """The project's D in [0, 1] (1 = nearest) from disparity in px; unknown (NaN) pixels are
    filled from their neighbours first."""
    d = np.asarray(disparity_px, np.float32)
    unknown = ~np.isfinite(d)
    known = d[~unknown]
    if known.size == 0:
        raise ValueError("disparity has no known pixel")
    lo, hi = float(known.min()), float(known.max())
    filled = np.where(unknown, lo, d).astype(np.float32)
    if unknown.any():
        filled = cv2.inpaint(filled, unknown.astype(np.uint8), _INPAINT_RADIUS, cv2.INPAINT_TELEA)
    return np.clip((filled - lo) / max(hi - lo, 1e-6), 0.0, 1.0).astype(np.float32)


def rgbd_scene(image_srgb: np.ndarray, disparity: np.ndarray) -> Scene:
    """One opaque layer: the photo in linear light at D = ``disparity`` (HxW in [0, 1])."""
    h, w = disparity.shape
    layer = Layer(srgb_to_linear(np.asarray(image_srgb, np.float32)), np.ones((h, w), np.float32),
                  np.asarray(disparity, np.float32), name="photo", opaque=True)
    return Scene([layer], (h, w))


def pairs_description() -> str:
    """How the pairs are made, for a table's note: focus quantiles and narrow blur radii."""
    quantiles = "/".join(str(round(100 * q)) for q in PAIR_FOCUS_QUANTILES)
    radii = " and ".join(f"{r:g}" for r in PAIR_BLUR_RADII_PX)
    native = middlebury_motorcycle()[0].shape[1]
    return f"focus at the {quantiles} % quantiles of its disparity, narrow blur K = {radii} px at its native {native} px width"


def middlebury_aperture_pairs(long_side: int | None = None,
                              magnifications: tuple[float, ...] = PAIR_MAGNIFICATIONS) -> Iterator[dict[str, np.ndarray]]:
    """Narrow/wide aperture pairs of the motorcycle photo: each focus of
    :data:`PAIR_FOCUS_QUANTILES` x each narrow blur of :data:`PAIR_BLUR_RADII_PX` x each m of
    ``magnifications`` (18 pairs by default; m = 1 pairs the narrow render with itself).
    ``long_side`` shrinks the photo first, the blur with it. Keys as the synthetic magnify
    samples: ``narrow``, ``wide``, ``m``, ``coc_radius_px`` (signed, of the narrow render),
    ``blur_radius_px``, ``focus_disparity``."""
    image, disparity_px = middlebury_motorcycle()
    h, w = disparity_px.shape
    scale = 1.0 if long_side is None else min(1.0, long_side / max(h, w))
    disparity = normalized_disparity(disparity_px)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        disparity = cv2.resize(disparity, size, interpolation=cv2.INTER_AREA)
    scene = rgbd_scene(image, disparity)
    for quantile in PAIR_FOCUS_QUANTILES:
        focus = float(np.quantile(disparity, quantile))
        for blur in PAIR_BLUR_RADII_PX:
            k = blur * scale
            narrow = render(scene, focus, k)
            for m in magnifications:
                wide = narrow.image if m == 1.0 else render(scene, focus, m * k).image
                yield {"narrow": narrow.image, "wide": wide,
                       "m": np.float32(m), "coc_radius_px": narrow.coc_radius_px,
                       "blur_radius_px": np.float32(k), "focus_disparity": np.float32(focus)}
