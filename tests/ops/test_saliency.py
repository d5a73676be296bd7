import numpy as np
import pytest

from defocus_cli.ops.saliency import SALIENCY_LONG_SIDE_PX, colour_saliency


def _subject_on_textured_ground(h: int = 300, w: int = 450) -> np.ndarray:
    rng = np.random.default_rng(3)
    image = np.clip(0.45 + 0.04 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)
    image[100:200, 150:260] = (0.85, 0.35, 0.2)  # an orange object on a grey, grainy ground
    return image


def test_a_subject_that_stands_out_in_colour_is_salient_and_its_ground_is_not() -> None:
    image = _subject_on_textured_ground()
    saliency = colour_saliency(image)
    scale = saliency.shape[0] / image.shape[0]
    inside = saliency[int(120 * scale) : int(180 * scale), int(170 * scale) : int(240 * scale)]
    outside = saliency[: int(60 * scale)]
    assert inside.min() > 0.8
    assert np.percentile(outside, 95) < 0.2  # the ground's grain is smoothed away


def test_computed_on_a_small_copy_with_the_aspect_kept() -> None:
    saliency = colour_saliency(_subject_on_textured_ground(600, 900))
    assert saliency.shape == (round(600 * SALIENCY_LONG_SIDE_PX / 900), SALIENCY_LONG_SIDE_PX)
    assert saliency.dtype == np.float32 and saliency.min() >= 0.0 and saliency.max() <= 1.0
    small = colour_saliency(np.zeros((30, 20, 3), np.float32) + 0.5)
    assert small.shape == (30, 20)  # never enlarged


def test_a_uniform_photo_has_no_salient_part() -> None:
    assert colour_saliency(np.full((64, 64, 3), 0.7, np.float32)).max() < 0.01
    faint = np.full((64, 64, 3), 0.7, np.float32)
    faint[20:40, 20:40] += 0.002  # far below a visible difference: not stretched to 1
    assert colour_saliency(faint).max() < 0.2


def test_rejects_what_is_not_an_rgb_image() -> None:
    with pytest.raises(ValueError):
        colour_saliency(np.zeros((16, 16), np.float32))
