import cv2
import numpy as np
import pytest

from defocus_cli.ops.focus import COMPOSITE_WEIGHTS, composite_focus_measure, sml


def _texture(size: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((size, size, 3)).astype(np.float32)


@pytest.mark.parametrize("measure", [sml, composite_focus_measure])
def test_range_dtype_shape(measure):
    out = measure(_texture())
    assert out.shape == (96, 96) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() < 1.0


@pytest.mark.parametrize("measure", [sml, composite_focus_measure])
def test_monotone_in_blur(measure):
    img = _texture()
    means = [measure(img if s == 0 else cv2.GaussianBlur(img, (0, 0), s)).mean() for s in (0, 1, 2, 4)]
    assert all(a > b for a, b in zip(means, means[1:], strict=False))


@pytest.mark.parametrize("measure", [sml, composite_focus_measure])
def test_absolute_not_min_max(measure):
    # An all-blurry image must read lower than an all-sharp one: no per-image stretching.
    img = _texture()
    assert measure(cv2.GaussianBlur(img, (0, 0), 3)).max() < 0.5 * measure(img).max()


@pytest.mark.parametrize("measure", [sml, composite_focus_measure])
def test_independent_of_image_size(measure):
    # The same texture tiled twice as wide gives the same values in its interior.
    img = _texture(64)
    tiled = np.concatenate([img, img], axis=1)
    np.testing.assert_allclose(measure(tiled)[16:48, 16:48], measure(img)[16:48, 16:48], atol=1e-5)


def test_flat_is_zero_and_local():
    img = np.full((64, 64), 0.4, np.float32)
    img[:, 32:] = _texture(64)[:, 32:, 0]
    out = sml(img)
    assert out[:, :20].max() == 0.0
    assert out[:, 40:].mean() > 0.3


def test_gray_and_rgb_agree_for_neutral_images():
    gray = _texture()[..., 0]
    rgb = np.repeat(gray[..., None], 3, axis=2)
    np.testing.assert_allclose(sml(rgb), sml(gray), atol=1e-5)


def test_weights_sum_to_one_and_rejects_bad_shape():
    assert sum(COMPOSITE_WEIGHTS.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        sml(np.zeros((4, 4, 2), np.float32))
