import numpy as np
import pytest

from defocus_cli.errors import InputError
from defocus_cli.ops.saliency import colour_saliency
from defocus_cli.pipelines.shallow_dof import (
    aperture_blur_radius,
    auto_focus_depth,
    focus_depth_at,
    metric_to_inverse_depth,
    prepare_depth,
    shallow_dof,
    widen_focus,
)


def _scene(h: int = 80, w: int = 120) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.random((h, w, 3)).astype(np.float32)
    depth = np.full((h, w), 0.1, np.float32)
    depth[20:60, 30:90] = 0.8
    return image, depth


def test_subject_at_focus_is_unchanged_background_blurred():
    image, depth = _scene()
    out = shallow_dof(image, depth, focus_depth=0.8, blur_radius_px=10.0, grain=False)
    np.testing.assert_array_equal(out[20:60, 30:90], image[20:60, 30:90])
    assert out[:10].std() < 0.5 * image[:10].std()
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_focus_range_keeps_a_band_of_depths_sharp_and_shifts_the_blur_beyond_it():
    image, depth = _scene()
    depth[20:60, 30:60] = 0.7  # the subject's far half, 0.1 behind the focus
    plane = shallow_dof(image, depth, focus_depth=0.8, blur_radius_px=10.0, grain=False)
    widened = shallow_dof(image, widen_focus(depth, 0.8, 0.3), focus_depth=0.8, blur_radius_px=10.0, grain=False)
    assert not np.allclose(plane[25:55, 35:55], image[25:55, 35:55], atol=1e-3)
    np.testing.assert_array_equal(widened[20:60, 30:90], image[20:60, 30:90])
    # The background, 0.7 behind, is blurred as if 0.55 behind: less than before, not left sharp.
    residual = lambda out: np.abs(out[:10] - image[:10]).mean()  # noqa: E731
    assert 0.5 * residual(plane) < residual(widened) < residual(plane)
    # CoC radius K * max(|D - D_focus| - R / 2, 0), the sign (in front / behind) kept.
    np.testing.assert_allclose(widen_focus(np.array([[0.0, 0.75, 0.95, 1.0]]), 0.8, 0.3),
                               [[0.15, 0.8, 0.8, 0.85]], atol=1e-6)
    np.testing.assert_array_equal(widen_focus(depth, 0.8, 0.0), depth)
    with pytest.raises(ValueError, match="focus range"):
        widen_focus(depth, 0.8, 1.5)


def test_grain_restores_noise_in_blurred_areas_only():
    image, depth = _scene()
    smooth = np.full_like(image, 0.5)
    noisy = np.clip(smooth + np.random.default_rng(1).normal(0, 0.03, image.shape), 0, 1).astype(np.float32)
    plain = shallow_dof(noisy, depth, 0.8, 10.0, grain=False)
    grainy = shallow_dof(noisy, depth, 0.8, 10.0, grain=True)
    assert grainy[:10].std() > 2 * plain[:10].std()
    np.testing.assert_array_equal(grainy[25:55, 35:85], noisy[25:55, 35:85])
    # Deterministic.
    np.testing.assert_array_equal(grainy, shallow_dof(noisy, depth, 0.8, 10.0, grain=True))


def test_focus_point_takes_the_subject_depth_near_an_edge():
    _, depth = _scene()
    # On the subject but 2 px from its edge: the window sees both, the subject dominates.
    assert focus_depth_at(depth, 60, 22) == pytest.approx(0.8)
    assert focus_depth_at(depth, 5, 5) == pytest.approx(0.1)
    with pytest.raises(InputError):
        focus_depth_at(depth, 500, 5)


def test_prepare_depth_resizes_and_checks_aspect():
    depth = np.linspace(0, 1, 40 * 60, dtype=np.float32).reshape(40, 60)
    out = prepare_depth(depth, (80, 120, 3))
    assert out.shape == (80, 120)
    with pytest.raises(InputError, match="aspect ratios differ"):
        prepare_depth(depth, (120, 80, 3))


def test_metric_depth_converts_to_normalized_inverse():
    z = np.array([[1.0, 2.0], [4.0, 0.0]], np.float32)
    inv = metric_to_inverse_depth(z)
    assert inv[0, 0] == pytest.approx(1.0) and inv[1, 0] == pytest.approx(0.0)
    assert inv[1, 1] == 0.0  # unknown -> far
    assert 0 < inv[0, 1] < 1


def test_auto_focus_prefers_a_near_subject_over_the_background_behind_it():
    # A subject covering a modest part of the centre: the background holds more of the
    # centre-weighted mass, but the separate nearer cluster wins.
    depth = np.full((300, 450), 0.15, np.float32)
    depth[90:210, 180:270] = 0.75
    assert auto_focus_depth(depth) == pytest.approx(0.75)
    # A subject above the centre, as a cup seen from above: a fifth of the background's
    # centre-weighted mass, still separate and nearer, so it is focused.
    upper = np.full((300, 450), 0.05, np.float32)
    upper[30:120, 165:285] = 0.95
    assert auto_focus_depth(upper) == pytest.approx(0.95)
    # A near object in a corner is not the subject.
    corner = np.full((300, 450), 0.3, np.float32)
    corner[:60, :60] = 0.95
    assert auto_focus_depth(corner) == pytest.approx(0.3)


def test_auto_focus_with_a_subject_map_takes_the_subject_depth():
    # An off-centre subject (rule of thirds) behind a nearer centre: without the map the
    # centre's nearer cluster wins; the map, at a lower resolution, points at the subject.
    depth = np.full((300, 450), 0.2, np.float32)
    depth[100:200, 175:275] = 0.9
    depth[60:160, 60:140] = 0.55
    subject = np.zeros((75, 112), np.float32)
    subject[15:40, 15:35] = 0.95
    assert auto_focus_depth(depth) == pytest.approx(0.9)
    assert auto_focus_depth(depth, subject) == pytest.approx(0.55)
    # A map that marks (almost) nothing is ignored.
    speck = np.zeros_like(subject)
    speck[20, 20] = 1.0
    assert auto_focus_depth(depth, speck) == pytest.approx(0.9)
    assert auto_focus_depth(depth, np.full_like(subject, 0.4)) == pytest.approx(0.9)
    with pytest.raises(ValueError):
        auto_focus_depth(depth, np.zeros((4, 4, 3), np.float32))


def test_auto_focus_steered_by_saliency_takes_the_subject_that_stands_out() -> None:
    # A grey scene: a nearer patch of ground, a little darker, low in the centre, and a red
    # flower just off-centre at mid depth. The depth alone prefers the nearer patch; the
    # photo's saliency says the flower is what the picture is about.
    h, w = 90, 120
    depth = np.full((h, w), 0.2, np.float32)
    image = np.full((h, w, 3), 0.5, np.float32)
    depth[50:85, 40:80] = 0.8
    image[50:85, 40:80] = 0.48
    depth[20:45, 70:95] = 0.5
    image[20:45, 70:95] = (0.85, 0.1, 0.15)
    assert auto_focus_depth(depth) == pytest.approx(0.8)
    assert auto_focus_depth(depth, colour_saliency(image)) == pytest.approx(0.5)
    # A photo with nothing standing out leaves the depth's choice.
    assert auto_focus_depth(depth, colour_saliency(np.full((h, w, 3), 0.5, np.float32))) == pytest.approx(0.8)


def test_auto_focus_on_a_slanted_ground_takes_the_centre_depth():
    ramp = np.repeat(np.linspace(0.0, 1.0, 400, dtype=np.float32)[:, None], 500, axis=1)
    assert auto_focus_depth(ramp) == pytest.approx(0.5, abs=0.03)
    # Large inputs are subsampled; the answer does not move.
    big = np.repeat(np.repeat(ramp, 8, axis=0), 8, axis=1)
    assert auto_focus_depth(big) == pytest.approx(auto_focus_depth(ramp), abs=0.01)


def test_aperture_maps_onto_blur_radius():
    assert aperture_blur_radius(2.8, (3000, 4000)) == pytest.approx(80.0)  # = --blur-radius 2%
    assert aperture_blur_radius(5.6, (4000, 3000)) == pytest.approx(40.0)
    with pytest.raises(ValueError):
        aperture_blur_radius(0.0, (10, 10))
