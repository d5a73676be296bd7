import math

import numpy as np
import pytest

from defocus_cli.pipelines.magnify import added_coc_radius, magnify


def _photo() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.random((64, 96, 3)).astype(np.float32)
    coc = np.zeros((64, 96), np.float32)
    coc[:, 48:] = 4.0
    return image, coc


def test_m1_is_identity():
    image, coc = _photo()
    np.testing.assert_array_equal(magnify(image, 1.0, defocus_map_px=coc), image)


@pytest.mark.parametrize("m", [0.5, 4.5])
def test_out_of_range_m_rejected(m):
    image, _ = _photo()
    with pytest.raises(ValueError):
        magnify(image, m)


def test_added_radius_convention():
    r = np.array([[0.0, 0.4, 2.0, 4.0]], np.float32)
    added = added_coc_radius(r, 2.0)
    np.testing.assert_allclose(added, [[0.0, 0.0, -2 * math.sqrt(3), -4 * math.sqrt(3)]], rtol=1e-6)


def test_in_focus_untouched_blurred_side_blurrier_with_m():
    image, coc = _photo()
    out2 = magnify(image, 2.0, defocus_map_px=coc, grain=False)
    out3 = magnify(image, 3.0, defocus_map_px=coc, grain=False)
    np.testing.assert_array_equal(out2[:, :40], image[:, :40])
    assert out3[:, 70:].std() < out2[:, 70:].std() < image[:, 70:].std()


def test_classical_map_path_runs():
    image, _ = _photo()
    out = magnify(image, 2.0)
    assert out.shape == image.shape and out.dtype == np.float32
