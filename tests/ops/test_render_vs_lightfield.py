"""The fast renderer against the data engine's light-field reference (DESIGN.md).

The renderer gets only what a user has -- the all-in-focus centre view, its disparity, K and
the focus -- and must match the shift-and-sum over the aperture on fronto-parallel 3-layer
scenes.
"""

import cv2
import numpy as np
import pytest

from defocus_cli.data.lightfield import render as lightfield_render
from defocus_cli.data.scene import Layer, Scene
from defocus_cli.ops.color import linear_to_srgb, srgb_to_linear
from defocus_cli.ops.metrics import psnr
from defocus_cli.ops.render import render_from_depth

SIZE = (96, 128)


def _texture(rng: np.random.Generator, scale: float) -> np.ndarray:
    noise = rng.random((*SIZE, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), scale)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min() + 1e-6)
    return srgb_to_linear(0.15 + 0.7 * smooth)


def _disc_alpha(center: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0 : SIZE[0], 0 : SIZE[1]].astype(np.float32)
    dist = np.hypot(yy - center[0], xx - center[1])
    return np.clip(radius + 0.5 - dist, 0.0, 1.0).astype(np.float32)


def three_layer_scene(seed: int) -> Scene:
    rng = np.random.default_rng(seed)
    ones = np.ones(SIZE, np.float32)
    back = Layer(_texture(rng, 2.0), ones.copy(), 0.1 * ones, "back", opaque=True)
    mid = Layer(_texture(rng, 1.5), _disc_alpha((48, 50), 26), 0.5 * ones, "mid")
    front = Layer(_texture(rng, 1.0), _disc_alpha((60, 96), 18), 0.9 * ones, "front")
    return Scene([back, mid, front], SIZE)


@pytest.mark.parametrize(("seed", "focus", "k"), [(0, 0.5, 8.0), (1, 0.1, 16.0), (2, 0.9, 16.0), (3, 0.3, 24.0)])
def test_matches_lightfield_reference(seed: int, focus: float, k: float) -> None:
    scene = three_layer_scene(seed)
    reference = lightfield_render(scene, focus_disparity=focus, blur_radius_px=k)
    ours = render_from_depth(
        srgb_to_linear(reference.all_in_focus), reference.disparity, focus, k, highlights=None
    )
    value = psnr(np.clip(linear_to_srgb(ours), 0, 1), reference.image)
    print(f"PSNR vs light field, focus {focus}, K {k}: {value:.2f} dB")
    assert value >= 35.0
