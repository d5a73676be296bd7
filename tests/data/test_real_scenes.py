import numpy as np
import pytest

from defocus_cli.data import real_scenes
from defocus_cli.data.real_scenes import (
    middlebury_aperture_pairs,
    middlebury_motorcycle,
    normalized_disparity,
    rgbd_scene,
)


def test_motorcycle_loads_read_only_with_unknown_disparity_as_nan():
    image, disparity = middlebury_motorcycle()
    assert image.shape[:2] == disparity.shape and image.shape[2] == 3 and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert np.isnan(disparity).any() and np.nanmin(disparity) > 0
    with pytest.raises(ValueError):
        image[0, 0, 0] = 0.0


def test_normalized_disparity_fills_unknown_pixels_and_spans_zero_to_one():
    d = np.tile(np.linspace(10, 30, 16, dtype=np.float32), (8, 1))
    d[3:5, 6:8] = np.nan
    out = normalized_disparity(d)
    assert out.min() == 0.0 and out.max() == 1.0 and np.isfinite(out).all()
    assert 0.2 < out[4, 7] < 0.6  # filled from its neighbours (0.33 and 0.53 either side)
    with pytest.raises(ValueError, match="no known pixel"):
        normalized_disparity(np.full((4, 4), np.nan, np.float32))


def test_rgbd_scene_is_one_opaque_layer_at_the_given_disparity():
    image = np.full((6, 8, 3), 0.5, np.float32)
    disparity = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    scene = rgbd_scene(image, disparity)
    assert scene.size == (6, 8) and len(scene.layers) == 1 and scene.layers[0].opaque
    np.testing.assert_array_equal(scene.layers[0].disparity, disparity)
    assert scene.disparity_range() == (0.0, 1.0)


def test_aperture_pairs_widen_the_blur_by_m_and_keep_the_focus_sharp():
    pairs = list(middlebury_aperture_pairs(long_side=96))
    n = len(real_scenes.PAIR_FOCUS_QUANTILES) * len(real_scenes.PAIR_BLUR_RADII_PX)
    assert len(pairs) == n * len(real_scenes.PAIR_MAGNIFICATIONS)
    first = pairs[0]
    assert first["narrow"].shape == (65, 96, 3) and first["coc_radius_px"].shape == (65, 96)
    # the blur is scaled with the photo: 3 px at 741 px wide is about 0.39 px at 96
    assert float(first["blur_radius_px"]) == pytest.approx(3.0 * 96 / 741, rel=0.01)
    errors = {}
    for pair in pairs[:3]:  # one narrow render, m = 2, 3, 4: the wider, the further from it
        errors[float(pair["m"])] = float(np.abs(pair["wide"] - pair["narrow"]).mean())
    assert 0 < errors[2.0] < errors[3.0] < errors[4.0]
    same = list(middlebury_aperture_pairs(long_side=96, magnifications=(1.0,)))
    assert len(same) == n and all(p["wide"] is p["narrow"] for p in same)
