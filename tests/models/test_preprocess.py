"""Network encodings and layout conversions."""

from __future__ import annotations

import numpy as np
import pytest

from defocus_cli.models.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    decode,
    encode,
    from_network,
    hwc_to_nchw,
    nchw_to_hwc,
    to_network,
)
from defocus_cli.models.registry import PREPROCESSING


@pytest.mark.parametrize("kind", PREPROCESSING)
def test_encode_decode_round_trip(kind: str) -> None:
    image = np.random.default_rng(0).random((5, 7, 3), dtype=np.float32)
    batch = to_network(image, kind)
    assert batch.shape == (1, 3, 5, 7) and batch.dtype == np.float32 and batch.flags.c_contiguous
    np.testing.assert_allclose(from_network(batch, kind), image, atol=1e-6)


def test_known_values() -> None:
    assert encode(np.array([[0.0, 0.5, 1.0]]), "srgb-1to1").tolist() == [[-1.0, 0.0, 1.0]]
    pixel = np.ones((1, 1, 3), np.float32) * IMAGENET_MEAN
    np.testing.assert_allclose(encode(pixel, "imagenet"), 0.0, atol=1e-7)
    np.testing.assert_allclose(
        encode(np.zeros((1, 1, 3), np.float32), "imagenet")[0, 0], -IMAGENET_MEAN / IMAGENET_STD
    )
    with pytest.raises(ValueError, match="HxWx3"):
        encode(np.zeros((4, 4)), "imagenet")
    with pytest.raises(ValueError, match="unknown"):
        decode(np.zeros((4, 4)), "gamma")


def test_layouts() -> None:
    gray = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert hwc_to_nchw(gray).shape == (1, 1, 2, 3)
    np.testing.assert_array_equal(nchw_to_hwc(hwc_to_nchw(gray)), gray)  # 1 channel -> HxW
    np.testing.assert_array_equal(nchw_to_hwc(gray[None]), gray)  # NHW map
    with pytest.raises(ValueError):
        nchw_to_hwc(np.zeros((2, 3, 4, 4)))
