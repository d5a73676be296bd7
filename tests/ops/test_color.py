import numpy as np
import pytest

from defocus_cli.ops.color import linear_to_srgb, luminance, smooth_chroma_change, srgb_to_linear


def test_round_trip_is_exact_to_float_precision():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=2e-6)


@pytest.mark.parametrize(
    ("srgb", "linear"),
    [(0.0, 0.0), (1.0, 1.0), (0.04045, 0.04045 / 12.92), (0.5, 0.21404114), (0.2, 0.033104767)],
)
def test_known_values_of_the_standard_curve(srgb, linear):
    assert srgb_to_linear(np.array([srgb]))[0] == pytest.approx(linear, rel=1e-5, abs=1e-7)


def test_curve_is_monotonic_and_continuous_at_the_knee():
    x = np.linspace(0.03, 0.05, 2001, dtype=np.float32)
    y = srgb_to_linear(x)
    assert np.all(np.diff(y) >= 0)
    assert np.max(np.diff(y)) < 1e-4


def test_boosted_linear_values_above_one_are_not_clipped():
    assert linear_to_srgb(np.array([4.0]))[0] > 1.0


def test_luminance_weights_sum_to_one():
    assert luminance(np.ones((2, 2, 3), np.float32)) == pytest.approx(1.0)
    gray = np.full((2, 2), 0.3, np.float32)
    assert luminance(gray) is not None and np.allclose(luminance(gray), 0.3)


def test_smooth_chroma_change_keeps_luma_and_removes_colour_speckle() -> None:
    rng = np.random.default_rng(0)
    base = np.full((48, 48, 3), 0.5, np.float32)
    speckle = rng.normal(0, 0.05, (48, 48, 3)).astype(np.float32)
    speckle -= luminance(speckle)[..., None]  # pure colour noise: no luma change
    step = np.zeros((48, 48, 3), np.float32)
    step[:, 24:] = 0.2  # a grey edge: a luma change
    result = base + speckle + step
    out = smooth_chroma_change(base, result, 2.0)
    np.testing.assert_allclose(luminance(out), luminance(result), atol=1e-6)
    assert np.abs(out - base - step).std() < 0.3 * speckle.std()
    np.testing.assert_allclose(out[:, 30:40], (base + step)[:, 30:40], atol=0.02)
