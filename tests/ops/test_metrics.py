import cv2
import numpy as np
import pytest

from defocus_cli.ops.metrics import mae, psnr, rmse, ssim, to_uint8


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.random((64, 80, 3)).astype(np.float32), (0, 0), 2)
    return np.clip(base, 0, 1)


def test_identical_images_are_perfect(image):
    assert psnr(image, image) == float("inf")
    assert ssim(image, image) == pytest.approx(1.0)


def test_psnr_matches_the_definition_on_8_bit_values(image):
    noisy = np.clip(image + 0.02, 0, 1)
    a, b = to_uint8(image).astype(float), to_uint8(noisy).astype(float)
    expected = 10 * np.log10(255**2 / np.mean((a - b) ** 2))
    assert psnr(image, noisy) == pytest.approx(expected)


def test_mask_restricts_psnr_to_selected_pixels(image):
    damaged = image.copy()
    damaged[:, 40:] = 0
    mask = np.zeros(image.shape[:2], bool)
    mask[:, :40] = True
    assert psnr(image, damaged, mask=mask) == float("inf")
    assert psnr(image, damaged) < 20


def test_ssim_drops_with_blur_and_noise(image):
    blurred = cv2.GaussianBlur(image, (0, 0), 3)
    noisy = np.clip(image + np.random.default_rng(1).normal(0, 0.1, image.shape), 0, 1)
    assert ssim(image, blurred) < 0.99
    assert ssim(image, noisy) < ssim(image, np.clip(image + 0.01, 0, 1))


def test_shape_mismatch_is_refused(image):
    with pytest.raises(ValueError, match="shape"):
        psnr(image, image[:-1])


def test_mae_and_rmse_in_map_units():
    a = np.zeros((4, 4), np.float32)
    b = np.full((4, 4), 2.0, np.float32)
    b[0, 0] = 6.0
    assert mae(a, b) == pytest.approx((15 * 2 + 6) / 16)
    assert rmse(a, b) == pytest.approx(np.sqrt((15 * 4 + 36) / 16))
