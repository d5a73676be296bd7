import cv2
import numpy as np
import pytest

from defocus_cli.ops.defocus_classical import (
    RADIUS_PER_SIGMA,
    _edge_sigma_one_scale,
    classical_defocus_map,
)


def _step(sigma: float) -> np.ndarray:
    big = np.zeros((32, 1280), np.float32)
    big[:, 643:] = 1.0
    step = cv2.resize(big, (128, 32), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(step, (0, 0), sigma) if sigma > 0 else step


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0])
def test_gradient_ratio_recovers_sigma_at_a_step(sigma):
    b = _step(sigma)
    row = b[16]
    edge = int(np.argmax(np.abs(np.diff(row))))
    estimate = _edge_sigma_one_scale(b)[16, edge : edge + 2].mean()
    assert estimate == pytest.approx(sigma, rel=0.15)


def test_blurred_half_reads_larger_radius_in_pixels():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.random((160, 240)).astype(np.float32), (0, 0), 0.7)
    texture = np.repeat(((texture - texture.min()) / np.ptp(texture))[..., None], 3, axis=2)
    image = texture.copy()
    image[:, 120:] = cv2.GaussianBlur(texture, (0, 0), 2.0)[:, 120:]
    radius = classical_defocus_map(image)
    sharp, blurred = np.median(radius[:, 10:90]), np.median(radius[:, 150:230])
    assert blurred > sharp + 1.5
    # Units: sigma 2 -> radius 4 px (radius = 2 sigma); generous, it is a classical estimate.
    assert 2.0 < blurred < 7.0
    assert RADIUS_PER_SIGMA == 2.0


def test_hole_radius_fills_a_small_sharp_island_but_keeps_a_sharp_region():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.random((160, 240)).astype(np.float32), (0, 0), 0.7)
    texture = (texture - texture.min()) / np.ptp(texture)
    image = texture.copy()
    image[:, 120:] = cv2.GaussianBlur(texture, (0, 0), 2.0)[:, 120:]
    image[78:82, 176:184] = 1.0  # a small sharp mark inside the blurred half
    image = np.repeat(image[..., None], 3, axis=2)
    plain = classical_defocus_map(image)
    filled = classical_defocus_map(image, hole_radius=6)
    mark = np.s_[76:84, 174:186]
    assert plain[mark].min() < 0.5  # the mark's sharp edges read as an in-focus hole
    assert filled[mark].min() > 1.0  # filled with the surrounding blur
    np.testing.assert_allclose(filled[:, :100], plain[:, :100], atol=0.05)  # the sharp half stays sharp
