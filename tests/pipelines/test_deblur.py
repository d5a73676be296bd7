"""Tests for defocus_cli/pipelines/deblur.py on a stand-in G1 with the real export's I/O."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from defocus_cli.ops.focus import sml
from defocus_cli.pipelines import scale_match
from defocus_cli.pipelines.deblur import deblur, deblur_network
from tests.models.tiny_refocus import Counting, box3, deblur_spec, deblur_standin, load


@pytest.fixture(scope="module")
def g1(tmp_path_factory: pytest.TempPathFactory):
    return load(tmp_path_factory.mktemp("g1"), deblur_standin, deblur_spec())


@pytest.fixture(scope="module")
def g1_wide(tmp_path_factory: pytest.TempPathFactory):
    """Receptive radius 3 px: well inside the tiles' 16 px of zero blending weight."""
    return load(tmp_path_factory.mktemp("g1w"), deblur_standin, deblur_spec(), blur_layers=3)


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 1.0)


def test_feeds_the_image_and_its_sml_channel(g1) -> None:
    image = _texture(42, 50)  # not multiples of 4: padded and cropped back
    out = deblur(image, g1).pixels
    expected = np.clip(image + sml(image)[..., None] * (image - box3(image)), 0, 1)
    assert out.shape == image.shape and out.dtype == np.float32
    # The border differs only by how the stride padding fills the box filter's reach.
    np.testing.assert_allclose(out[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-5)


def test_tiled_run_equals_one_pass(g1_wide) -> None:
    image = _texture(250, 330, seed=1)
    counting = Counting(g1_wide)
    tiled = deblur_network(counting, image, tile_px=128)
    whole = deblur_network(g1_wide, image, tile_px=1024)
    assert len(counting.sizes) >= 9 and set(counting.sizes) == {(128, 128)}
    assert np.abs(tiled - whole).max() < 1e-5


def test_tiny_photo_is_padded_to_what_the_graph_accepts(g1) -> None:
    image = _texture(5, 3)
    assert deblur(image, g1).pixels.shape == (5, 3, 3)


def test_scaled_mode_runs_where_the_blur_matches_training(g1) -> None:
    sharp = _texture(256, 320, seed=2)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 8.0)  # radius ~16 px, beyond the training blur
    counting = Counting(g1)
    result = deblur(blurred, counting, mode="scaled", passes=1)
    assert result.blur_radius_px is not None and result.blur_radius_px > scale_match.TARGET_BLUR_RADIUS_PX
    assert result.scale == pytest.approx(scale_match.matching_scale(result.blur_radius_px))
    assert result.scale < 1.0
    height, width = scale_match.working_size(256, 320, result.scale)
    assert counting.sizes == [(-(-height // 4) * 4, -(-width // 4) * 4)]  # one run on the small copy
    assert result.pixels.shape == blurred.shape


def test_scaled_mode_follows_the_models_working_blur(g1, tmp_path) -> None:
    from dataclasses import replace

    spec = deblur_spec()
    small_blur = load(tmp_path, deblur_standin, replace(spec, extra={**spec.extra, "working_blur_radius_px": 2.5}))
    blurred = cv2.GaussianBlur(_texture(256, 320, seed=2), (0, 0), 8.0)
    default = deblur(blurred, g1, mode="scaled")
    trained_small = deblur(blurred, small_blur, mode="scaled")
    assert trained_small.scale == pytest.approx(scale_match.matching_scale(trained_small.blur_radius_px, 2.5))
    assert trained_small.scale == pytest.approx(default.scale * 2.5 / scale_match.TARGET_BLUR_RADIUS_PX)


def test_scaled_mode_keeps_the_full_resolution_detail(g1) -> None:
    image = _texture(128, 128, seed=3)
    image[:, 64:] = cv2.GaussianBlur(image, (0, 0), 6.0)[:, 64:]
    result = deblur(image, g1, mode="scaled", scale=0.5)
    assert result.scale == 0.5 and result.blur_radius_px is None
    # The sharp half's finest detail (gone from a half-size copy) is still there.
    fine = image - cv2.resize(cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA), (128, 128),
                              interpolation=cv2.INTER_CUBIC)
    kept = result.pixels - cv2.resize(cv2.resize(result.pixels, (64, 64), interpolation=cv2.INTER_AREA),
                                      (128, 128), interpolation=cv2.INTER_CUBIC)
    assert np.abs(kept[8:-8, 8:56]).mean() > 0.9 * np.abs(fine[8:-8, 8:56]).mean()


def test_scaled_mode_at_scale_one_equals_tiles(g1) -> None:
    image = _texture(40, 44, seed=4)  # barely blurred: no shrinking
    scaled = deblur(image, g1, mode="scaled")
    assert scaled.scale == 1.0
    np.testing.assert_array_equal(scaled.pixels, deblur(image, g1).pixels)


@pytest.mark.parametrize(("mode", "scale"), [("fast", None), ("tiles", 0.5), ("scaled", 0.0), ("scaled", 1.5)])
def test_bad_mode_or_scale(g1, mode: str, scale: float | None) -> None:
    with pytest.raises(ValueError):
        deblur(_texture(16, 16), g1, mode=mode, scale=scale)


def test_rejects_non_rgb(g1) -> None:
    with pytest.raises(ValueError):
        deblur(np.zeros((16, 16), np.float32), g1)


@pytest.mark.parametrize("passes", [1, 2, 4])
def test_each_pass_runs_the_network_once_and_a_symmetric_network_is_unchanged(g1, passes: int) -> None:
    image = _texture(40, 48, seed=3)
    counting = Counting(g1)
    result = deblur(image, counting, mode="tiles", passes=passes)
    assert len(counting.sizes) == passes and result.passes == passes
    # The stand-in treats a mirrored photo as the photo mirrored: averaging leaves it as it is.
    single = deblur(image, g1, mode="tiles", passes=1).pixels
    np.testing.assert_allclose(result.pixels[2:-2, 2:-2], single[2:-2, 2:-2], atol=1e-5)


def test_other_pass_counts_are_refused(g1) -> None:
    with pytest.raises(ValueError, match="passes"):
        deblur(_texture(16, 16), g1, passes=3)
