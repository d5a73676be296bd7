import numpy as np
import pytest

from defocus_cli.ops.saliency import (
    FEATURELESS_WEIGHT,
    SALIENCY_LONG_SIDE_PX,
    colour_saliency,
    detail_map,
    subject_weights,
)


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


def _striped_subject_in_a_graded_sky(h: int = 240, w: int = 360) -> np.ndarray:
    """A small white, striped subject in a sky graded from dark to light blue that fills the frame."""
    image = np.zeros((h, w, 3), np.float32)
    image[..., 0], image[..., 1] = 0.05, np.linspace(0.05, 0.35, h)[:, None]
    image[..., 2] = np.linspace(0.25, 0.85, h)[:, None]
    image[80:200, 170:190] = 0.9
    image[80:200:4, 170:190] = 0.55
    return image


def _at(small: np.ndarray, image: np.ndarray, y: int, x: int) -> float:
    """The value of a reduced-size map at pixel (y, x) of the full-size image."""
    return float(small[y * small.shape[0] // image.shape[0], x * small.shape[1] // image.shape[1]])


def test_detail_marks_edges_and_texture_not_smooth_gradients() -> None:
    image = _striped_subject_in_a_graded_sky()
    detail = detail_map(image)
    assert detail.shape == colour_saliency(image).shape and detail.dtype == np.float32
    assert _at(detail, image, 140, 180) > 0.8  # the striped subject
    assert _at(detail, image, 20, 40) < 0.05  # the graded sky, far from the subject
    assert detail_map(np.full((50, 50, 3), 0.4, np.float32)).max() == 0.0


def test_subject_weights_keep_the_subject_and_halve_a_featureless_sky() -> None:
    image = _striped_subject_in_a_graded_sky()
    saliency, weights = colour_saliency(image), subject_weights(image)
    sky, subject = (20, 40), (140, 180)
    assert _at(weights, image, *sky) == pytest.approx(FEATURELESS_WEIGHT * _at(saliency, image, *sky), abs=0.02)
    assert _at(weights, image, *subject) > 0.8 * _at(saliency, image, *subject)
    assert (weights <= saliency + 1e-6).all() and (weights >= FEATURELESS_WEIGHT * saliency - 1e-6).all()


def test_automatic_focus_lands_on_the_subject_not_the_sky() -> None:
    from defocus_cli.pipelines.shallow_dof import auto_focus_depth

    image = _striped_subject_in_a_graded_sky()
    depth = np.zeros(image.shape[:2], np.float32)  # the sky far away, and the subject nearer,
    depth[80:200, 170:190] = np.linspace(0.8, 0.6, 120)[:, None]  # its depth smeared as a network's
    assert 0.6 <= auto_focus_depth(depth, subject_weights(image)) <= 0.8
    assert auto_focus_depth(depth, colour_saliency(image)) < 0.05  # colour alone: the sky's mass wins
