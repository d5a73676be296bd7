import numpy as np
import pytest

from defocus_cli.pipelines.defocus_map import binary_blur_mask, defocus_map


def test_units_and_shape():
    rng = np.random.default_rng(0)
    image = rng.random((48, 64, 3)).astype(np.float32)
    out = defocus_map(image)
    assert out.shape == (48, 64) and out.dtype == np.float32 and out.min() >= 0


def test_unknown_method_rejected():
    with pytest.raises(ValueError):
        defocus_map(np.zeros((8, 8, 3), np.float32), method="dmenet-x")


def test_binary_mask():
    m = binary_blur_mask(np.array([[0.2, 1.0, 3.0]], np.float32), 1.0)
    np.testing.assert_array_equal(m, [[0.0, 0.0, 1.0]])
