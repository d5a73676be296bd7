"""Shared tail of the rendering pipelines: sRGB photo + CoC map -> sRGB result."""

from __future__ import annotations

import numpy as np

from defocus_cli.ops.bokeh import DISC, Bokeh
from defocus_cli.ops.color import linear_to_srgb, srgb_to_linear
from defocus_cli.ops.grain import add_grain, estimate_noise_sigma
from defocus_cli.ops.render import DEFAULT_HIGHLIGHTS, render_lens_blur


def render_srgb(
    image_srgb: np.ndarray,
    coc_radius_px: np.ndarray,
    *,
    bokeh: Bokeh = DISC,
    highlights: tuple[float, float] | None = DEFAULT_HIGHLIGHTS,
    grain: bool = True,
) -> np.ndarray:
    """Blur an sRGB photo (HxWx3 float32 [0, 1]) by a signed CoC map in linear light, put the
    grain back, and return HxWx3 float32 sRGB in [0, 1]. In-focus pixels that no blurred
    foreground covers are returned unchanged."""
    linear_in = srgb_to_linear(image_srgb)
    linear = render_lens_blur(linear_in, coc_radius_px, bokeh=bokeh, highlights=highlights)
    # Pixels the render left alone (in focus, no foreground spread over them) keep their
    # exact input values: the sRGB round trip must not drift.
    unchanged = (np.abs(coc_radius_px) < 0.5) & (np.abs(linear - linear_in).max(axis=2) < 1e-6)
    out = linear_to_srgb(np.clip(linear, 0.0, 1.0))
    if grain:
        out = add_grain(out, coc_radius_px, estimate_noise_sigma(image_srgb))
    out = np.clip(out, 0.0, 1.0)
    out[unchanged] = image_srgb[unchanged]
    return out.astype(np.float32)
