"""``pipelines.depth``: working resolution, stride padding, output conversion, guided upsampling."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from defocus_cli.models import tiling
from defocus_cli.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from defocus_cli.models.registry import DEPTH_ANYTHING_V2_SMALL, ModelSpec, TensorSpec
from defocus_cli.models.resolve import ResolvedModel
from defocus_cli.models.session import create_session
from defocus_cli.pipelines.depth import (
    DEFAULT_WORKING_PX,
    normalize_depth,
    predict_depth,
    predict_depth_and_subject,
    view_shifts,
    working_size,
)
from tests.models.tiny_deeplens import (
    deeplens_depth_standin,
    depth_anything_standin,
    depth_spec,
    expected_deeplens_depth,
)


@dataclass
class RecordingNetwork:
    """A Python stand-in that records its input and returns ``respond(input)``."""

    spec: ModelSpec
    respond: object
    seen: list[np.ndarray] = field(default_factory=list)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        (name,) = inputs
        assert name == self.spec.inputs[0].name
        self.seen.append(inputs[name])
        return {self.spec.outputs[0].name: self.respond(inputs[name])}  # type: ignore[operator]


def _session(tmp_path: Path, spec: ModelSpec, data: bytes) -> object:
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    return create_session(ResolvedModel(path, spec, "0" * 64, "path", "none"), device="cpu", threads=1)


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 0.8, (h, w, 3)).astype(np.float32)


def test_working_size_and_padding():
    assert working_size(1000, 700, 518) == (518, 363)
    assert working_size(300, 200, 518) == (300, 200)  # never upscaled
    padded, size = tiling.pad_to_stride(np.zeros((363, 518, 3), np.float32), 14, min_strides=2)
    assert padded.shape == (364, 518, 3) and size == (363, 518)
    # Two strides per side at least (exported graphs declare sides stride * k, k >= 2).
    padded, _ = tiling.pad_to_stride(np.zeros((5, 30), np.float32), 8, min_strides=2)
    assert padded.shape == (16, 32)


def test_depth_anything_input_is_imagenet_at_518_in_multiples_of_14():
    image = _photo(700, 1000)
    net = RecordingNetwork(DEPTH_ANYTHING_V2_SMALL, lambda x: x[:, 0])
    depth = predict_depth(image, net)
    seen, seen_mirrored = net.seen  # the photo and its left-right mirror
    assert seen.shape == seen_mirrored.shape == (1, 3, 364, 518) and seen.dtype == np.float32
    # The top-left corner is the photo shrunk to 518 px, normalized with ImageNet mean/std.
    import cv2

    small = cv2.resize(image, (518, 363), interpolation=cv2.INTER_AREA)
    expected = ((small - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
    np.testing.assert_allclose(seen[0, :, :363], expected, atol=1e-5)
    np.testing.assert_allclose(seen_mirrored[0, :, :363], expected[:, :, ::-1], atol=1e-5)
    assert depth.shape == (700, 1000) and depth.dtype == np.float32


def test_relative_inverse_depth_becomes_normalized_near_is_one():
    # Larger raw values = nearer, with an arbitrary offset and scale, and a few outliers.
    h, w = 60, 80
    raw = np.full((h, w), -40.0, np.float32)
    raw[20:40, 30:50] = 120.0  # a near subject
    raw[0, :3] = 1e6  # outliers the robust percentiles ignore
    spec = DEPTH_ANYTHING_V2_SMALL
    net = RecordingNetwork(spec, lambda x: np.pad(raw, ((0, x.shape[2] - h), (0, x.shape[3] - w)), mode="edge")[None])
    depth = predict_depth(_photo(h, w), net)
    assert depth[30, 40] == pytest.approx(1.0) and depth[5, 5] == pytest.approx(0.0)
    assert depth.min() >= 0 and depth.max() <= 1


def test_normalize_depth():
    x = np.linspace(-3, 5, 1000, dtype=np.float32).reshape(20, 50)
    exact = normalize_depth(x, robust=False)
    assert exact.min() == 0 and exact.max() == 1
    robust = normalize_depth(x, robust=True)
    assert (robust == 0).sum() > 1 and (robust == 1).sum() > 1  # the tails are clipped
    np.testing.assert_array_equal(normalize_depth(np.full((4, 4), 7.0), robust=True), 0.5)


def test_deeplens_standin_odd_sizes_come_back_at_input_size(tmp_path: Path):
    net = _session(tmp_path, depth_spec(), deeplens_depth_standin())
    for h, w in ((37, 53), (9, 7), (64, 40)):
        image = _photo(h, w)
        depth = predict_depth(image, net)
        assert depth.shape == (h, w)
        # The stand-in's raw output is the channel mean, smoothed along the photo's edges
        # (a DeepLens graph's map is) and min-max normalized over the photo's own pixels.
        np.testing.assert_allclose(depth, expected_deeplens_depth(image), atol=1e-5)


def test_subject_output_comes_back_at_working_size_mirror_averaged(tmp_path: Path):
    net = _session(tmp_path, replace(depth_spec(), working_resolution=64), deeplens_depth_standin())
    image = _photo(96, 128)
    image[20:50, 10:40, 2] = 1.0  # the stand-in's subject: its blue channel
    prediction = predict_depth_and_subject(image, net)
    assert prediction.depth.shape == (96, 128)
    assert prediction.subject is not None and prediction.subject.shape == (48, 64)
    assert prediction.subject[17, 12] == pytest.approx(1.0) and prediction.subject[40, 50] < 0.85
    np.testing.assert_array_equal(prediction.depth, predict_depth(image, net))
    # An export without the output (or any other depth model) has no subject.
    old_spec = replace(depth_spec(), outputs=(TensorSpec("depth", "NCHW", 1),))
    old = _session(tmp_path, old_spec, deeplens_depth_standin(subject=False))
    assert predict_depth_and_subject(image, old).subject is None


def test_view_shifts_from_the_spec_add_shifted_passes_and_keep_the_map_aligned(tmp_path: Path):
    image = _photo(40, 56)
    plain = replace(depth_spec(), working_resolution=64)
    shifted = replace(plain, extra={**plain.extra, "view_shifts_px": [4]})
    assert view_shifts(plain) == (0,) and view_shifts(shifted) == (0, 4)
    seen = {}
    for name, spec in (("plain", plain), ("shifted", shifted)):
        net = RecordingNetwork(spec, lambda x: x.mean(axis=1))  # a map that follows the photo
        seen[name] = (predict_depth(image, net), len(net.seen))
    assert seen["plain"][1] == 2 and seen["shifted"][1] == 4  # mirror, and each shifted too
    # The shifted views are shifted back: the same photo-aligned map (up to the padded border).
    np.testing.assert_allclose(seen["shifted"][0][4:-4, 4:-4], seen["plain"][0][4:-4, 4:-4], atol=1e-5)
    for bad in ([-4], [2.5], "4", [True]):
        with pytest.raises(ValueError, match="view_shifts_px"):
            view_shifts(replace(plain, extra={**plain.extra, "view_shifts_px": bad}))


def test_guided_upsampling_keeps_depth_edges_on_photo_edges(tmp_path: Path):
    net = _session(tmp_path, depth_spec(), deeplens_depth_standin())
    h, w = 600, 900
    image = np.full((h, w, 3), 0.2, np.float32)
    image[200:400, 301:601] = 0.8  # a bright subject whose edges fall between working pixels
    depth = predict_depth(image, net)
    assert max(h, w) > DEFAULT_WORKING_PX  # the network ran smaller
    assert depth.shape == (h, w)
    # One pixel either side of each edge: near and far, not a blurred ramp.
    assert depth[300, 302] > 0.9 and depth[300, 299] < 0.1
    assert depth[201, 450] > 0.9 and depth[198, 450] < 0.1
    # A working-resolution override runs it at full size.
    full = predict_depth(image, net, working_px=900)
    assert full[300, 301] == pytest.approx(1.0) and full[300, 300] == pytest.approx(0.0, abs=1e-6)


def test_depth_anything_standin_through_onnxruntime(tmp_path: Path):
    net = _session(tmp_path, DEPTH_ANYTHING_V2_SMALL, depth_anything_standin())
    image = _photo(45, 61)
    image[10:30, 20:40, 0] = 0.95  # red = nearer for this stand-in
    depth = predict_depth(image, net)
    assert depth.shape == (45, 61)
    assert depth[20, 30] == pytest.approx(1.0) and np.median(depth[:8]) < 0.6
