"""Stride padding and tiled inference: seamless against an untiled run of a real ONNX conv net."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from defocus_cli.errors import UsageError
from defocus_cli.models.registry import ModelSpec, TensorSpec
from defocus_cli.models.resolve import ResolvedModel
from defocus_cli.models.session import create_session
from defocus_cli.models.tiling import crop, pad_to_min_side, pad_to_stride, run_tiled, tile_starts
from tests.models.tiny_models import conv_model


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (1, 9, 2), (8, 8, 3)])
def test_pad_to_stride_reflects_and_crop_undoes(shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(0).random(shape, dtype=np.float32)
    padded, size = pad_to_stride(image, 4)
    assert padded.shape[0] % 4 == 0 and padded.shape[1] % 4 == 0
    assert padded.shape[2:] == image.shape[2:]
    np.testing.assert_array_equal(crop(padded, size), image)
    if shape[0] >= 2 and padded.shape[0] > shape[0]:
        # reflection without repeating the edge row: row h mirrors row h-2
        np.testing.assert_array_equal(padded[shape[0], : shape[1]], image[shape[0] - 2])


def test_padding_to_stride_14_for_depth_anything() -> None:
    padded, _ = pad_to_stride(np.zeros((100, 150, 3), np.float32), 14)
    assert padded.shape == (112, 154, 3)


@pytest.mark.parametrize(
    "size, tile, overlap, stride", [(300, 128, 32, 4), (129, 128, 16, 1), (1000, 256, 64, 8)]
)
def test_tile_starts_cover_with_enough_overlap(
    size: int, tile: int, overlap: int, stride: int
) -> None:
    starts = tile_starts(size, tile, overlap, stride)
    assert starts[0] == 0 and starts[-1] + tile == size
    assert all(s % stride == 0 for s in starts)
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))


@pytest.fixture(scope="module")
def conv_net(tmp_path_factory: pytest.TempPathFactory):
    """Two stacked 3x3 convs (receptive radius 2 px) as an ONNX Runtime session."""
    path = tmp_path_factory.mktemp("tiling") / "conv.onnx"
    data = conv_model(path, layers=2, seed=7)
    spec = ModelSpec(
        name="conv",
        task="deblur",
        file=path.name,
        sha256=hashlib.sha256(data).hexdigest(),
        inputs=(TensorSpec("image"),),
        outputs=(TensorSpec("output"),),
    )
    session = create_session(
        ResolvedModel(path, spec, spec.sha256 or "", "path", "sha256"), "cpu", 1
    )

    def run(tile_hwc: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(tile_hwc.transpose(2, 0, 1)[None], dtype=np.float32)
        return session.run({"image": batch})["output"][0].transpose(1, 2, 0)

    return run


def test_tiled_equals_untiled_for_a_conv_net(conv_net) -> None:
    image = np.random.default_rng(1).random((150, 203, 3), dtype=np.float32)
    untiled = crop(conv_net(pad_to_stride(image, 4)[0]), image.shape[:2])
    tiled = run_tiled(conv_net, image, tile_px=64, overlap_px=16, stride=4)
    assert tiled.shape == image.shape and tiled.dtype == np.float32
    # everywhere, borders and tile seams included
    np.testing.assert_allclose(tiled, untiled, rtol=0, atol=1e-5)


def test_one_tile_when_the_image_fits(conv_net) -> None:
    calls = []

    def counting(tile: np.ndarray) -> np.ndarray:
        calls.append(tile.shape)
        return conv_net(tile)

    run_tiled(counting, np.zeros((30, 41, 3), np.float32), tile_px=64, overlap_px=16, stride=4)
    assert calls == [(32, 44, 3)]


def test_constant_image_stays_constant_even_for_a_tile_dependent_fn() -> None:
    # each tile returns its own mean: only correct blending weights keep the result flat
    image = np.full((97, 131), 0.375, np.float32)
    out = run_tiled(lambda t: np.full_like(t, t.mean()), image, tile_px=32, overlap_px=12, stride=2)
    np.testing.assert_allclose(out, 0.375, atol=1e-7)


def test_blend_is_feathered_not_a_hard_seam() -> None:
    # tiles that disagree (value = tile's x start) must meet with a gradual transition
    image = np.zeros((16, 200), np.float32)
    seen: list[float] = []

    def tile_id(tile: np.ndarray) -> np.ndarray:
        seen.append(float(len(seen)))
        return np.full(tile.shape, seen[-1], np.float32)

    out = run_tiled(tile_id, image, tile_px=64, overlap_px=32, stride=1)
    row = out[0]
    assert np.all(np.diff(row) >= -1e-6)  # monotone from tile 0 to the last tile
    assert np.max(np.diff(row)) < 0.2  # no jump: the change is spread over the overlap


def test_channel_change_and_bad_arguments() -> None:
    image = np.random.default_rng(2).random((70, 90, 3), dtype=np.float32)
    gray = run_tiled(lambda t: t.mean(axis=2), image, tile_px=32, overlap_px=8)
    np.testing.assert_allclose(gray, image.mean(axis=2), atol=1e-6)
    with pytest.raises(ValueError, match="changed the tile size"):
        run_tiled(lambda t: t[:-1], image, tile_px=32, overlap_px=8)
    with pytest.raises(UsageError, match="half the tile"):
        run_tiled(lambda t: t, image, tile_px=32, overlap_px=20)
    with pytest.raises(ValueError, match="HxW"):
        run_tiled(lambda t: t, np.zeros((2, 3, 4, 5)), tile_px=32, overlap_px=8)


def test_pad_to_stride_grows_tiny_images_to_the_minimum_strides():
    image = np.arange(5 * 30, dtype=np.float32).reshape(5, 30)
    padded, size = pad_to_stride(image, 8, min_strides=2)
    assert padded.shape == (16, 32) and size == (5, 30)
    np.testing.assert_array_equal(crop(padded, size), image)
    np.testing.assert_array_equal(padded[15, :30], padded[7, :30])  # edge-extended below the stride pad
    assert pad_to_min_side(image, 4) is image
