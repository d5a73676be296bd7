"""Physics of the reference light-field renderer: known answers and a dense-view comparison."""

from __future__ import annotations

import numpy as np
import pytest

from defocus_cli.data.lightfield import render
from defocus_cli.data.scene import Layer, Scene, random_scene
from defocus_cli.ops.color import srgb_to_linear

N = 64


def _layer(color: np.ndarray, alpha: np.ndarray | None, d: float, opaque: bool = False) -> Layer:
    if color.ndim == 2:
        color = np.repeat(color[..., None], 3, axis=2)
    alpha = np.ones(color.shape[:2], np.float32) if alpha is None else alpha.astype(np.float32)
    return Layer(color.astype(np.float32), alpha, np.full(color.shape[:2], d, np.float32), opaque=opaque)


@pytest.mark.parametrize(("k", "delta"), [(6.0, 0.5), (10.0, -0.75), (8.0, 1.0)])
def test_point_renders_disc_of_radius_k_delta_and_conserves_energy(k: float, delta: float) -> None:
    point = np.zeros((N, N), np.float32)
    point[N // 2, N // 2] = 1.0
    focus = 0.0 if delta > 0 else 0.9
    scene = Scene([_layer(point, None, focus + delta, opaque=True)], (N, N))
    out = srgb_to_linear(render(scene, focus, k).image)[..., 0].astype(np.float64)
    assert out.sum() == pytest.approx(1.0, abs=2e-3)
    yy, xx = np.mgrid[0:N, 0:N] - N // 2
    r2 = (yy**2 + xx**2) * out
    radius = np.sqrt(2 * r2.sum() / out.sum())  # a uniform disc has E[r^2] = R^2 / 2
    assert radius == pytest.approx(k * abs(delta), abs=0.3)
    inside = out[np.hypot(yy, xx) < k * abs(delta) - 1.5]
    assert inside.min() > 0.5 * inside.max()  # flat inside: a disc, not a ring or a Gaussian


def test_in_focus_layer_is_unchanged() -> None:
    scene = random_scene(np.random.default_rng(3), (N, N))
    front = scene.layers[-1]
    focus = float(front.disparity.max())
    front.disparity[:] = focus
    out = render(scene, focus, 8.0)
    solid = front.alpha >= 1.0
    assert solid.sum() > 20
    np.testing.assert_allclose(out.image[solid], out.all_in_focus[solid], atol=1e-5)
    assert np.all(np.abs(out.coc_radius_px[solid]) < 1e-6)


def test_in_focus_foreground_gets_no_background_bleed() -> None:
    fg = np.zeros((N, N), np.float32)
    fg[20:44, 20:44] = 1.0
    scene = Scene([_layer(np.ones((N, N)), None, 0.0, opaque=True), _layer(np.zeros((N, N)), fg, 0.8)], (N, N))
    out = render(scene, 0.8, 10.0).image
    assert np.abs(out[20:44, 20:44]).max() < 1e-6
    assert out[5, 5].min() > 0.99


def test_blurred_foreground_spreads_over_background() -> None:
    fg = np.zeros((N, N), np.float32)
    fg[20:44, 20:44] = 1.0
    scene = Scene([_layer(np.zeros((N, N)), None, 0.5, opaque=True), _layer(np.ones((N, N)), fg, 1.0)], (N, N))
    out = render(scene, 0.5, 8.0).image  # CoC 4 px at the foreground
    assert out[32, 17].min() > 0.1  # 3 px outside the edge: covered by the blurred foreground
    assert out[32, 12:15].max() < 1e-6  # beyond its CoC the in-focus background is untouched
    assert out[32, 5].max() < 1e-6


def _disc_edge_profile(x: np.ndarray, radius: float) -> np.ndarray:
    """Fraction of a disc of ``radius`` centred at x lying right of the edge at 0."""
    t = np.clip(x / radius, -1, 1)
    return (np.arccos(-t) - (-t) * np.sqrt(1 - t * t)) / np.pi


def test_blurred_step_edge_is_smooth_monotonic_and_matches_the_disc() -> None:
    step = np.zeros((N, N), np.float32)
    step[:, N // 2:] = 1.0
    scene = Scene([_layer(step, None, 1.0, opaque=True)], (N, N))
    radius = 9.0
    row = srgb_to_linear(render(scene, 0.0, radius).image)[N // 2, :, 0]
    diffs = np.diff(row)
    assert diffs.min() > -1e-6  # monotonic
    x = np.arange(N) - (N // 2 - 0.5)
    transition = np.abs(x) < radius - 1
    assert np.all(diffs[transition[:-1] & transition[1:]] > 1e-3)  # no flat runs between ghost copies
    np.testing.assert_allclose(row[8:-8], _disc_edge_profile(x, radius)[8:-8], atol=0.02)


def test_cells_match_a_dense_light_field_with_occlusion() -> None:
    scene = random_scene(np.random.default_rng(11), (48, 48), n_objects=(3, 3), highlight_prob=0.0)
    fast = render(scene, 0.3, 7.0)
    dense = render(scene, 0.3, 7.0, cell_px=0.7, max_grid=21)
    err = np.abs(srgb_to_linear(fast.image) - srgb_to_linear(dense.image))
    # one unsplit aperture (plain layered blur) misses these bounds by 2-5x on this scene
    assert err.mean() < 0.0008
    assert np.percentile(err, 99) < 0.008


def test_render_is_deterministic_and_typed() -> None:
    a = render(random_scene(np.random.default_rng(5), (32, 40)), 0.4, 5.0)
    b = render(random_scene(np.random.default_rng(5), (32, 40)), 0.4, 5.0)
    for name in ("image", "all_in_focus", "disparity", "coc_radius_px"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == np.float32 and x.shape[:2] == (32, 40)
        np.testing.assert_array_equal(x, y)
    assert a.image.min() >= 0 and a.image.max() <= 1
    np.testing.assert_allclose(a.coc_radius_px, 5.0 * (a.disparity - 0.4), atol=1e-6)


def test_rejects_bad_arguments() -> None:
    scene = random_scene(np.random.default_rng(0), (16, 16))
    with pytest.raises(ValueError, match="blur_radius_px"):
        render(scene, 0.5, -1.0)
    with pytest.raises(ValueError, match="no layers"):
        render(Scene([], (16, 16)), 0.5, 1.0)
    with pytest.raises(ValueError, match="layer 0 alpha"):
        render(Scene(scene.layers, (16, 20)), 0.5, 1.0)


def test_slanted_layer_blur_follows_its_disparity() -> None:
    h, w = 48, 104
    dots = np.zeros((h, w), np.float32)
    xs = np.arange(8, w - 8, 16)
    dots[h // 2, xs] = 1.0
    layer = _layer(dots, None, 0.0, opaque=True)
    layer.disparity[:] = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    k, focus = 12.0, 0.5
    out = srgb_to_linear(render(Scene([layer], (h, w)), focus, k).image)[..., 0].astype(np.float64)
    yy, xx = np.mgrid[-8:9, -8:9]
    for x in xs:
        patch = out[h // 2 - 8:h // 2 + 9, x - 8:x + 9]
        assert patch.sum() == pytest.approx(1.0, abs=0.01)
        radius = np.sqrt(2 * ((yy**2 + xx**2) * patch).sum() / patch.sum())
        expected = k * abs(layer.disparity[0, x] - focus)
        assert radius == pytest.approx(expected, abs=0.5 if expected > 1 else 0.7), x
