import numpy as np
import pytest

from defocus_cli.ops.edge_aware import domain_transform_smooth


def _two_regions(height: int = 40, width: int = 60) -> np.ndarray:
    """A colour guide: a reddish left part and a bluish right part, split at column 25."""
    guide = np.empty((height, width, 3), np.float32)
    guide[:, :25] = (0.8, 0.3, 0.2)
    guide[:, 25:] = (0.2, 0.3, 0.8)
    return guide


def test_noise_inside_a_region_is_smoothed_and_the_edge_between_regions_kept() -> None:
    guide = _two_regions()
    rng = np.random.default_rng(0)
    depth = np.where(np.arange(60)[None, :] < 25, 0.8, 0.2).astype(np.float32).repeat(40, 0)
    noisy = depth + rng.normal(0, 0.05, depth.shape).astype(np.float32)
    out = domain_transform_smooth(noisy, guide, 10.0, 0.1)
    assert out.shape == depth.shape and out.dtype == np.float32
    # Inside each region the noise is averaged away...
    assert np.abs(out - depth)[:, 3:22].std() < 0.2 * 0.05
    # ...and across the colour edge nothing leaks: the step stays a step.
    assert out[:, 24].mean() == pytest.approx(0.8, abs=0.02)
    assert out[:, 25].mean() == pytest.approx(0.2, abs=0.02)


def test_a_constant_map_stays_constant_and_the_output_stays_in_range() -> None:
    rng = np.random.default_rng(1)
    guide = rng.random((30, 50, 3)).astype(np.float32)
    np.testing.assert_allclose(domain_transform_smooth(np.full((30, 50), 0.3, np.float32), guide, 8.0, 0.2), 0.3, atol=1e-6)
    src = rng.random((30, 50)).astype(np.float32)
    out = domain_transform_smooth(src, guide, 8.0, 0.2)
    assert out.min() >= src.min() - 1e-6 and out.max() <= src.max() + 1e-6


def test_frame_ends_are_not_over_weighted() -> None:
    # A ramp on a uniform guide, smoothed far beyond its length, goes to its mean: the first
    # and last pixels pull no harder than the rest (a plain recursion would drift to them).
    ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (8, 1))
    out = domain_transform_smooth(ramp, np.zeros((8, 64), np.float32), 1000.0, 0.1)
    np.testing.assert_allclose(out, 0.5, atol=0.01)


def test_a_gray_guide_works_like_the_same_colour_guide() -> None:
    rng = np.random.default_rng(2)
    gray = rng.random((20, 30)).astype(np.float32)
    src = rng.random((20, 30)).astype(np.float32)
    # Three equal channels sum to three times the step: a third of the range sigma matches.
    np.testing.assert_allclose(domain_transform_smooth(src, gray, 5.0, 0.1),
                               domain_transform_smooth(src, np.repeat(gray[..., None], 3, 2), 5.0, 0.3), atol=1e-5)


@pytest.mark.parametrize(("sigma_spatial", "sigma_range", "iterations"),
                         [(0.0, 0.1, 3), (5.0, 0.0, 3), (float("nan"), 0.1, 3), (5.0, float("inf"), 3), (5.0, 0.1, 0)])
def test_bad_parameters_are_refused(sigma_spatial: float, sigma_range: float, iterations: int) -> None:
    with pytest.raises(ValueError):
        domain_transform_smooth(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32), sigma_spatial, sigma_range, iterations)


def test_a_map_of_another_size_than_the_guide_is_refused() -> None:
    with pytest.raises(ValueError):
        domain_transform_smooth(np.zeros((4, 5), np.float32), np.zeros((4, 4, 3), np.float32), 5.0, 0.1)
