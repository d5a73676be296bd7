"""Tests for defocus_cli/pipelines/scale_match.py: blur estimate, working scale, detail transfer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from defocus_cli.pipelines.scale_match import (
    MIN_SCALE,
    bring_up,
    matching_scale,
    photo_blur_radius_px,
    shrink,
    working_size,
)


def _texture(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), 1.0)


def _half_blurred(size: int, sigma: float) -> np.ndarray:
    """Discs (the same layout at any size), the right half blurred by a Gaussian of ``sigma``."""
    rng = np.random.default_rng(0)
    image = np.full((size, size, 3), 0.5, np.float32)
    for _ in range(60):
        x, y = rng.random(2) * size
        radius = (0.02 + 0.08 * rng.random()) * size
        cv2.circle(image, (int(x), int(y)), int(radius), tuple(float(v) for v in rng.random(3)), -1, cv2.LINE_AA)
    image[:, size // 2:] = cv2.GaussianBlur(image, (0, 0), sigma)[:, size // 2:]
    return image


def test_blur_estimate_follows_the_photo_scale() -> None:
    sizes = [photo_blur_radius_px(_half_blurred(128 * k, 2.0 * k)) for k in (1, 2, 4)]
    # CoC radius = 2 sigma by the project's convention, then linear in the photo's scale.
    assert 3.0 < sizes[0] < 5.0
    assert 1.7 < sizes[1] / sizes[0] < 2.3 and 1.7 < sizes[2] / sizes[1] < 2.3


def test_blur_estimate_is_computed_on_a_bounded_copy() -> None:
    image = cv2.resize(_half_blurred(256, 3.0), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    direct = photo_blur_radius_px(cv2.resize(image, (1024, 1024), interpolation=cv2.INTER_AREA))
    assert photo_blur_radius_px(image) == pytest.approx(2 * direct, rel=1e-3)


@pytest.mark.parametrize(("blur", "expected"), [(0.0, 1.0), (5.0, 1.0), (10.0, 0.5), (20.0, 0.25), (1e6, MIN_SCALE)])
def test_matching_scale(blur: float, expected: float) -> None:
    assert matching_scale(blur) == pytest.approx(expected)


def test_working_size_and_shrink() -> None:
    assert working_size(6000, 4000, 0.25) == (1500, 1000)
    assert working_size(10, 10, 0.01, minimum=1) == (1, 1)
    image = _texture(64)
    assert shrink(image, (64, 64)) is image
    assert shrink(image, (16, 32)).shape == (16, 32, 3)


def test_an_unchanged_result_gives_back_the_photo_exactly() -> None:
    full = _texture(96)
    small = shrink(full, (48, 48))
    np.testing.assert_allclose(bring_up(full, small, small.copy()), full, atol=1e-6)
    np.testing.assert_allclose(bring_up(full, small, small.copy(), gate=True), full, atol=1e-6)


def test_the_change_is_added_at_full_resolution() -> None:
    full = _texture(96)
    small = shrink(full, (48, 48))
    np.testing.assert_allclose(bring_up(full, small, small + 0.1), full + 0.1, atol=1e-5)


def test_gate_drops_the_fine_detail_of_what_the_network_blurred() -> None:
    full = _texture(128, seed=1)
    small = shrink(full, (64, 64))
    blurred = cv2.GaussianBlur(small, (0, 0), 4.0)  # G2 defocused the whole frame
    fine = np.abs(full - cv2.resize(small, (128, 128), interpolation=cv2.INTER_CUBIC)).mean()
    for gate, low, high in ((False, 0.9, 2.0), (True, 0.0, 0.2)):
        out = bring_up(full, small, blurred, gate=gate)
        residual = np.abs(out - cv2.resize(blurred, (128, 128), interpolation=cv2.INTER_CUBIC)).mean()
        assert low * fine <= residual <= high * fine, gate


def test_same_size_returns_the_result() -> None:
    image = _texture(32)
    result = image * 0.5
    np.testing.assert_array_equal(bring_up(image, image, result, gate=True), result)
    with pytest.raises(ValueError):
        bring_up(image, image, result[:16])
