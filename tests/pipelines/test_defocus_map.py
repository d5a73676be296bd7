from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from defocus_cli.cli.model_options import LoadedModel, open_model
from defocus_cli.models.registry import ModelSpec
from defocus_cli.pipelines import defocus_learned
from defocus_cli.pipelines.defocus_learned import MAX_WORKING_PX, learned_defocus_map, working_scale
from defocus_cli.pipelines.defocus_map import binary_blur_mask, defocus_map
from tests.models.tiny_dmenet import RADIUS_PER_UNIT, STRIDE, TRAINED_MAX_PX, install_dmenet


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


@dataclass
class SpyNetwork:
    """The ONNX stand-in (a real onnxruntime session) recording the shapes it was fed."""

    model: LoadedModel
    shapes: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def spec(self) -> ModelSpec:
        return self.model.spec

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.shapes += [x.shape for x in inputs.values()]
        return self.model.run(inputs)


@pytest.fixture
def dmenet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SpyNetwork:
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(install_dmenet(tmp_path / "weights")))
    return SpyNetwork(open_model("defocus-map", device="cpu", threads=1))


def _expected(image: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """What the stand-in returns, in px of an input ``scale`` times larger."""
    return RADIUS_PER_UNIT * image.mean(axis=2) * scale


@pytest.mark.parametrize("size", [(37, 53), (5, 7), (16, 80)])
def test_odd_sides_are_padded_to_the_stride_and_cropped_back_in_place(dmenet, size):
    image = np.random.default_rng(1).random((*size, 3)).astype(np.float32)
    out = learned_defocus_map(image, dmenet, working_px=10_000)  # at full size
    assert out.shape == size and out.dtype == np.float32
    # pixel for pixel: the padding did not shift the map
    np.testing.assert_allclose(out, _expected(image), atol=1e-5)
    direct, shifted, mirrored, mirrored_shifted = dmenet.shapes  # the four views (averaged_over_views)
    assert direct == mirrored and shifted == mirrored_shifted
    for shape in dmenet.shapes:
        assert shape[:2] == (1, 3) and all(side % STRIDE == 0 and side >= 2 * STRIDE for side in shape[2:])


def test_radius_scales_with_the_working_downscale(dmenet):
    image = np.full((64, 96, 3), 0.25, np.float32)  # the stand-in reads 2 px of its input
    at = {px: learned_defocus_map(image, dmenet, working_px=px) for px in (96, 48, 24)}
    for px, factor in ((96, 1), (48, 2), (24, 4)):
        # a radius of 2 px in a copy `factor` times smaller is 2 * factor px of the photo
        np.testing.assert_allclose(at[px], 2.0 * factor, rtol=1e-5)
        assert at[px].shape == (64, 96)
    # four passes per map (two unshifted, two shifted by 8 px): 32x48, then 16x24 padded to 32x32
    assert dmenet.shapes[4][2:] == (32, 48) and dmenet.shapes[8][2:] == (32, 32)
    assert dmenet.shapes[5][2:] == (48, 64)  # 40x56 once shifted


class RampNetwork(SpyNetwork):
    """The stand-in times a left-to-right ramp: an estimate that depends on where, not only
    on what, so it is not mirror-equivariant."""

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {k: v.copy() for k, v in super().run(inputs).items()}
        for v in out.values():
            v *= np.arange(v.shape[-1], dtype=np.float32) / v.shape[-1]
        return out


def test_the_map_is_mirror_equivariant(dmenet):
    ramp = RampNetwork(dmenet.model)
    image = np.random.default_rng(2).random((40, 56, 3)).astype(np.float32)
    out = learned_defocus_map(image, ramp, working_px=10_000)
    np.testing.assert_allclose(learned_defocus_map(image[:, ::-1].copy(), ramp, working_px=10_000), out[:, ::-1],
                               atol=1e-5)
    flat = learned_defocus_map(np.full((40, 56, 3), 0.5, np.float32), ramp, working_px=10_000)
    np.testing.assert_allclose(flat, flat.mean(), rtol=1e-5)  # the ramp averages out


class StrideArtefactNetwork(SpyNetwork):
    """The stand-in times a ripple with the period of B's stride (16 px) down and across, the
    kind of error its four poolings leave: not equivariant to shifts of less than the stride."""

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {k: v.copy() for k, v in super().run(inputs).items()}
        for v in out.values():
            h, w = v.shape[-2:]
            v *= 1 + 0.25 * (np.cos(2 * np.pi * np.arange(h) / STRIDE)[:, None]
                             + np.cos(2 * np.pi * np.arange(w) / STRIDE))
        return out


def test_the_half_stride_shift_cancels_a_stride_ripple(dmenet):
    rippled = StrideArtefactNetwork(dmenet.model)
    image = np.full((48, 64, 3), 0.25, np.float32)  # the stand-in reads 2 px
    one_view = defocus_learned.run_network(rippled, image)
    assert np.abs(one_view - 2.0).max() > 0.9  # a single view carries the ripple
    # shifted by 8 px, the view sees the ripple in antiphase
    np.testing.assert_allclose(learned_defocus_map(image, rippled, working_px=10_000), 2.0, rtol=1e-4)


@dataclass
class ListedViewsNetwork(StrideArtefactNetwork):
    """The rippled stand-in whose spec lists its own view shifts (``defocus export --view-shift``)."""

    shifts: list[int] = field(default_factory=list)

    @property
    def spec(self) -> ModelSpec:
        return replace(self.model.spec, extra={**self.model.spec.extra, "view_shifts_px": self.shifts})


def test_a_spec_listing_its_view_shifts_replaces_the_default_views(dmenet):
    image = np.full((48, 64, 3), 0.25, np.float32)
    mirror_only = ListedViewsNetwork(dmenet.model, shifts=[0])
    out = learned_defocus_map(image, mirror_only, working_px=10_000)
    assert len(mirror_only.shapes) == 2  # the photo and its mirror, no shifted pair
    assert np.abs(out - 2.0).max() > 0.4  # so the stride ripple is no longer cancelled
    listed = ListedViewsNetwork(dmenet.model, shifts=[8])
    np.testing.assert_allclose(learned_defocus_map(image, listed, working_px=10_000), 2.0, rtol=1e-4)
    assert len(listed.shapes) == 4


def test_upsampled_map_follows_the_photo_edges(dmenet):
    image = np.full((120, 160, 3), 0.2, np.float32)
    image[:, 77:] = 0.8  # an edge off the working grid
    out = learned_defocus_map(image, dmenet, working_px=40)
    # left 1.6 px and right 6.4 px of the working copy, times 4
    assert abs(out[:, :70].mean() - 6.4) < 0.1 and abs(out[:, 84:].mean() - 25.6) < 0.1
    naive = cv2.resize(_expected(cv2.resize(image, (40, 30), interpolation=cv2.INTER_AREA), 4.0), (160, 120))
    truth = _expected(image, 4.0)
    assert np.abs(out - truth).mean() < 0.5 * np.abs(naive - truth).mean()


def test_working_scale_follows_the_photo_blur(dmenet):
    rng = np.random.default_rng(3)
    sharp = cv2.resize(rng.random((12, 16, 3)).astype(np.float32), (128, 96), interpolation=cv2.INTER_NEAREST)
    blurred = sharp.copy()
    blurred[:, 40:] = cv2.GaussianBlur(sharp, (0, 0), 6)[:, 40:]  # radius ~12 px behind a sharp part
    info_sharp: dict = {}
    info_blurred: dict = {}
    learned_defocus_map(sharp, dmenet, info=info_sharp)
    learned_defocus_map(blurred, dmenet, info=info_blurred)
    target = defocus_learned.TARGET_FRACTION * TRAINED_MAX_PX
    assert info_sharp["blur_scale_px"] < target and info_sharp["working_size"] == "128x96"
    assert info_blurred["blur_scale_px"] > target
    w, h = (int(v) for v in info_blurred["working_size"].split("x"))
    expected = working_scale(128, info_blurred["blur_scale_px"], target)
    assert 128 / w == pytest.approx(expected, rel=0.02) and h == round(96 / (128 / w))


def test_large_photos_run_at_most_max_working_px(dmenet):
    image = np.full((300, 1100, 3), 0.5, np.float32)
    info: dict = {}
    out = learned_defocus_map(image, dmenet, info=info)
    assert info["working_size"] == f"{MAX_WORKING_PX}x{round(300 * MAX_WORKING_PX / 1100)}"
    assert out.shape == (300, 1100)
    np.testing.assert_allclose(out, 4.0 * 1100 / MAX_WORKING_PX, rtol=1e-4)


def test_working_scale_bounds():
    assert working_scale(512, 1.0, 5.0) == 1.0  # never enlarged
    assert working_scale(512, 20.0, 5.0) == 4.0
    assert working_scale(512, 500.0, 5.0) == 512 / defocus_learned.MIN_WORKING_PX
    assert working_scale(6000, 0.0, 5.0) == 6000 / MAX_WORKING_PX


def test_learned_needs_a_model():
    with pytest.raises(ValueError, match="model"):
        defocus_map(np.zeros((8, 8, 3), np.float32), "learned")


def test_learned_through_the_dispatcher(dmenet):
    image = np.random.default_rng(4).random((40, 56, 3)).astype(np.float32)
    info: dict = {}
    out = defocus_map(image, "learned", model=dmenet, info=info)
    assert info["working_size"] == "56x40"  # sharp noise: no shrink
    np.testing.assert_allclose(out, _expected(image), atol=1e-5)
