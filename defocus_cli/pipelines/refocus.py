"""``refocus``: move a photo's focus by ``delta`` focal-stack slices, RefocusGAN (seed 001).

Deblur first (G1, :mod:`defocus_cli.pipelines.deblur`), then re-blur: G2 takes the photo,
G1's radiance and ``delta`` (fed as an integer-valued float, Nx1; the graph one-hot encodes
it over -9..9) and returns the photo focused ``delta`` slices farther (DESIGN.md: 10 slices
span the scene's inverse-depth range, nearest to farthest; positive = farther). A
single-stage G2 (no radiance input, seed 001 Table 2's baseline) runs without G1.

``delta = 0`` returns the photo itself: moving the focus by nothing is the identity, which no
network reproduces exactly. A G2 trained on some steps only (the seed's four-step
configuration: -9, -5, 5, 9) renders any other step as the linear blend of the two nearest
steps it knows, the photo itself standing for step 0 (:func:`delta_blend`): on held-out
focal stacks that scored above asking the network for the step directly at 13 of the 14
untrained steps (0.05 dB below at +4) and at most 0.1 dB below the photo itself (at +1),
where the untrained steps made delta 1 and -1 5-6 dB worse than the photo (docs/MODELS.md).
Modes as in deblur; in ``scaled`` mode the photo's fine detail is kept where G2 leaves the
small copy as sharp as it was, and fades where G2 blurs it. G2's change of colour (not of
luma) is smoothed over :data:`CHROMA_SIGMA_PX`, since colour noise and fringes are what the
small generator adds that a change of focus does not.

Example::

    result = refocus(image_srgb, 5, g2_model, g1_model, mode="scaled")
    result.pixels, result.radiance      # radiance only with keep_radiance=True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from defocus_cli.models.network import Network
from defocus_cli.ops.checks import check_image
from defocus_cli.ops.color import smooth_chroma_change
from defocus_cli.pipelines import scale_match
from defocus_cli.pipelines.deblur import (
    DEFAULT_MODE,
    TILE_PX,
    choose_scale,
    deblur_network,
    passes_for,
    run_image_network,
    working_blur_radius_px,
)

MAX_DELTA = 9
ALL_DELTAS = tuple(d for d in range(-MAX_DELTA, MAX_DELTA + 1) if d)
#: G2's colour change is smoothed over this many pixels of its own scale (luma untouched): it
#: removed the colour speckle and purple fringes G2 left on real photos, and gained 0.09 dB on
#: held-out focal stacks (24.70 -> 24.79 dB, sigma 1, 2, 4: 24.79, 24.79, 24.77).
CHROMA_SIGMA_PX = 2.0
RADIANCE_INPUT, DELTA_INPUT = "radiance", "delta"


@dataclass
class Refocused:
    """A refocus result: ``pixels`` HxWx3 float32 sRGB in [0, 1]; ``radiance`` the deblurred
    stage-1 image at full size when asked for (else None); ``stages`` 2 or 1; ``passes`` the
    mirrored runs of each network averaged; ``blend`` the (trained step, weight) pairs the
    result was made of (one pair, weight 1, when G2 knows ``delta``)."""

    pixels: np.ndarray
    radiance: np.ndarray | None
    delta: int
    mode: str
    scale: float
    blur_radius_px: float | None
    stages: int
    passes: int = 1
    blend: tuple[tuple[int, float], ...] = ()


def check_delta(delta: object) -> int:
    """``delta`` as an int in [-9, 9]; anything else raises ValueError."""
    if isinstance(delta, bool) or not isinstance(delta, int | np.integer) or not -MAX_DELTA <= int(delta) <= MAX_DELTA:
        raise ValueError(f"delta must be an integer in [-{MAX_DELTA}, {MAX_DELTA}], got {delta!r}")
    return int(delta)


def trained_deltas(model: Network) -> list[int] | None:
    """The steps G2 was trained on (its spec's ``deltas``), or None when it does not say."""
    steps = model.spec.extra.get("deltas")
    return sorted({int(d) for d in steps}) if steps else None


def delta_blend(delta: int, trained: list[int] | None) -> tuple[tuple[int, float], ...]:
    """How to render step ``delta`` from the steps a G2 was trained on: (step, weight) pairs
    whose weights sum to 1, step 0 meaning the photo itself.

    A trained step (or unknown training) is itself; another lies between the two nearest
    known steps, weighted linearly by distance; past the last known step on its side it takes
    that step (the result then moves the focus less than asked: :func:`reaches`).

    >>> delta_blend(3, [-9, -5, 5, 9])
    ((0, 0.4), (5, 0.6))
    >>> delta_blend(-7, [-9, -5, 5, 9])
    ((-9, 0.5), (-5, 0.5))
    """
    delta = check_delta(delta)
    if not trained or delta in trained or delta == 0:
        return ((delta, 1.0),)
    known = sorted(set(trained) | {0})
    below = [d for d in known if d < delta]
    above = [d for d in known if d > delta]
    if not below or not above:
        return ((below[-1] if below else above[0], 1.0),)
    lo, hi = below[-1], above[0]
    t = (delta - lo) / (hi - lo)
    return ((lo, round(1.0 - t, 6)), (hi, round(t, 6)))


def reaches(delta: int, blend: tuple[tuple[int, float], ...]) -> bool:
    """Whether ``blend`` renders ``delta`` (False when it stops at the last trained step)."""
    return abs(sum(step * weight for step, weight in blend) - delta) < 1e-6


def blend_passes(blend: tuple[tuple[int, float], ...], passes: int) -> int:
    """G2's mirrored passes for each step of ``blend``: half of ``passes`` (at least one) when
    G2 runs for two steps, so a blended step costs what a trained one does; on held-out stacks
    that cost less than 0.05 dB (docs/MODELS.md)."""
    runs = sum(1 for step, _ in blend if step != 0)
    return max(1, passes // runs) if runs > 1 else passes


def blended(blend: tuple[tuple[int, float], ...], photo: np.ndarray,
            run_step: Callable[[int], np.ndarray]) -> np.ndarray:
    """The weighted sum of G2's output for each step of ``blend`` (``run_step(step)``), the
    photo itself standing for step 0."""
    out = np.zeros_like(photo, dtype=np.float32)
    for step, weight in blend:
        out += np.float32(weight) * (photo if step == 0 else run_step(step))
    return out


def refocus(image_srgb: np.ndarray, delta: int, model: Network, deblur_model: Network | None = None, *,
            mode: str = DEFAULT_MODE, scale: float | None = None, keep_radiance: bool = False,
            tile_px: int = TILE_PX, passes: int | None = None) -> Refocused:
    """Refocus ``image_srgb`` (HxWx3 float32 sRGB in [0, 1]) by ``delta`` slices (+ = farther).

    ``model`` is G2; ``deblur_model`` is G1, required exactly when G2 is two-stage (the
    caller knows from the graph's inputs). ``keep_radiance`` also returns G1's result.
    ``passes``: each network's mirrored runs averaged (:mod:`defocus_cli.ops.views`; None =
    the mode's default, as for deblur).
    """
    check_image(image_srgb, "image_srgb", channels=(3,))
    delta = check_delta(delta)
    passes = passes_for(mode, passes)
    if keep_radiance and deblur_model is None:
        raise ValueError("keep_radiance needs the deblur model (a two-stage refocus)")
    image = np.asarray(image_srgb, np.float32)
    # One working scale for both stages: the one G2 was trained for.
    working, blur = choose_scale(image, mode, scale, working_blur_radius_px(model))
    size = scale_match.working_size(*image.shape[:2], working)
    small = scale_match.shrink(image, size)
    radiance_small = None
    if deblur_model is not None and (delta != 0 or keep_radiance):
        radiance_small = deblur_network(deblur_model, small, tile_px=tile_px, passes=passes)
    blend = delta_blend(delta, trained_deltas(model))
    if delta == 0:
        pixels = image.copy()
    else:
        planes = {RADIANCE_INPUT: radiance_small} if radiance_small is not None else {}
        g2_passes = blend_passes(blend, passes)

        def run_step(step: int) -> np.ndarray:
            constants = {DELTA_INPUT: np.full((1, 1), step, np.float32)}
            return run_image_network(model, small, planes, constants, tile_px=tile_px, passes=g2_passes)

        refocused = smooth_chroma_change(small, blended(blend, small, run_step), CHROMA_SIGMA_PX)
        pixels = scale_match.bring_up(image, small, refocused, gate=True)
        np.clip(pixels, 0.0, 1.0, out=pixels)
    radiance = None
    if keep_radiance:
        assert radiance_small is not None
        radiance = scale_match.bring_up(image, small, radiance_small)
        np.clip(radiance, 0.0, 1.0, out=radiance)
    return Refocused(pixels, radiance, delta, mode, working, blur, 2 if deblur_model is not None else 1, passes, blend)
