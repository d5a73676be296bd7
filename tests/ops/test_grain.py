import numpy as np
import pytest

from defocus_cli.ops.grain import add_grain, estimate_noise_sigma


def test_noise_estimate_on_known_noise():
    rng = np.random.default_rng(0)
    base = np.full((128, 128, 3), 0.5, np.float32)
    noisy = base + rng.normal(0, 0.02, base.shape).astype(np.float32)
    assert estimate_noise_sigma(noisy) == pytest.approx(np.full(3, 0.02), rel=0.15)
    assert estimate_noise_sigma(base).max() < 1e-4


def test_grain_amount_follows_blur_and_spares_in_focus():
    img = np.full((64, 64, 3), 0.5, np.float32)
    coc = np.zeros((64, 64), np.float32)
    coc[:, 32:] = 10.0
    out = add_grain(img, coc, np.full(3, 0.02, np.float32))
    np.testing.assert_array_equal(out[:, :32], img[:, :32])
    assert out[:, 32:].std() == pytest.approx(0.02, rel=0.15)
    # Clean images (no measurable grain) stay clean.
    np.testing.assert_array_equal(add_grain(img, coc, np.zeros(3, np.float32)), img)
