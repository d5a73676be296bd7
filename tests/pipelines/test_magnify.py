import math

import cv2
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


def test_fused_map_never_reads_more_blur_than_either_estimator(tmp_path, monkeypatch):
    from defocus_cli.cli.model_options import open_model
    from defocus_cli.ops.defocus_classical import classical_defocus_map
    from defocus_cli.pipelines.defocus_learned import learned_defocus_map
    from defocus_cli.pipelines.magnify import (
        CLASSICAL_SURE_PX,
        ESTIMATE_HOLE_RADIUS,
        ESTIMATE_NOISE_FLOOR_PX,
        estimated_defocus_map,
    )
    from tests.models.tiny_dmenet import install_dmenet

    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(install_dmenet(tmp_path / "weights")))
    network = open_model("defocus-map", device="cpu", threads=1)
    # a dark checkerboard, sharp on the left and blurred on the right: the classical map reads
    # up to 4 px there, the stand-in network (8 px x the mean, 0.125) about 1 px
    yy, xx = np.mgrid[0:64, 0:96]
    image = np.repeat(((((yy // 8) + (xx // 8)) % 2) * 0.25).astype(np.float32)[..., None], 3, axis=2)
    image[:, 48:] = cv2.GaussianBlur(image[:, 48:], (0, 0), 3.0)
    classical = estimated_defocus_map(image)
    fused = estimated_defocus_map(image, network)
    filled = classical_defocus_map(image, hole_radius=ESTIMATE_HOLE_RADIUS) - ESTIMATE_NOISE_FLOOR_PX
    learned = learned_defocus_map(image, network) - ESTIMATE_NOISE_FLOOR_PX
    assert fused.shape == classical.shape
    assert np.all(fused <= np.maximum(learned, 0.0) + 1e-6)  # the network can always veto blur
    # where the classical map (its small in-focus holes filled) is unsure, it bounds the map too
    unsure = filled + ESTIMATE_NOISE_FLOOR_PX < CLASSICAL_SURE_PX
    assert unsure.any()
    np.testing.assert_allclose(fused[unsure], np.maximum(np.minimum(filled, learned), 0.0)[unsure], atol=1e-6)
    assert np.any(fused < classical - 0.1)  # the stand-in network reads some pixels sharper
    np.testing.assert_array_equal(magnify(image, 2.0, map_model=network, grain=False),
                                  magnify(image, 2.0, defocus_map_px=fused, grain=False))



def test_fused_map_takes_the_network_radius_where_the_classical_map_is_sure_of_blur(monkeypatch):
    import defocus_cli.pipelines.magnify as module

    # columns: classical radius; rows: the network's
    classical = np.tile(np.array([0.5, 1.0, 1.75, 3.0], np.float32), (3, 1))
    learned = np.repeat(np.array([[0.2], [2.5], [5.0]], np.float32), 4, axis=1)
    monkeypatch.setattr(module, "classical_defocus_map", lambda image, hole_radius=0: classical.copy())
    monkeypatch.setattr(module, "learned_defocus_map", lambda image, model: learned.copy())
    fused = module.estimated_defocus_map(np.zeros((3, 4, 3), np.float32), map_model=object())
    expected = np.array([
        [0.0, 0.0, 0.0, 0.0],     # the network says sharp: sharp, whatever the classical map says
        [0.0, 0.0, 1.125, 1.5],   # unsure classical (< 1.5 px) bounds the radius; sure, the network's
        [0.0, 0.0, 2.375, 4.0],   # half-way up the ramp (1.75 px): half-way between the two
    ], np.float32)
    np.testing.assert_allclose(fused, expected, atol=1e-6)

# --------------------------------------------------------------------------- method "gan"
# The network is the stand-in of tests/models/tiny_magnify.py (a box blur scaled by m - 1,
# faded by the focus channel), installed as bundled weights and opened like the CLI does.


class SpyNetwork:
    """A loaded model that records what the pipeline feeds it."""

    def __init__(self, model) -> None:
        self.model = model
        self.feeds: list[dict[str, np.ndarray]] = []

    @property
    def spec(self):
        return self.model.spec

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.feeds.append({k: np.array(v) for k, v in inputs.items()})
        return self.model.run(inputs)


@pytest.fixture
def gan_model(tmp_path, monkeypatch):
    from defocus_cli.cli.model_options import open_model
    from tests.models.tiny_magnify import install_magnify

    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(install_magnify(tmp_path / "weights")))
    return SpyNetwork(open_model("magnify", device="cpu", threads=1))


def _soft_photo(height: int = 64, width: int = 96, seed: int = 0, grain_px: int = 1) -> np.ndarray:
    """Low-contrast texture of ``grain_px`` px blobs: the stand-in's focus channel reads it as
    mostly unfocused."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height // grain_px, width // grain_px, 3)).astype(np.float32)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR)
    return (0.5 + 0.1 * (noise - 0.5)).astype(np.float32)


def _high_freq(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x, axis=1)).mean())


def test_gan_m1_is_identity_and_needs_no_network(gan_model):
    image, coc = _photo()
    np.testing.assert_array_equal(magnify(image, 1.0, "gan", defocus_map_px=coc, model=gan_model), image)
    np.testing.assert_array_equal(magnify(image, 1.0, "gan", model=gan_model), image)
    assert gan_model.feeds == []


def test_gan_needs_a_model():
    image, coc = _photo()
    with pytest.raises(ValueError, match="model"):
        magnify(image, 2.0, "gan", defocus_map_px=coc)


def test_gan_keeps_in_focus_pixels_and_blurs_more_with_m(gan_model):
    _, coc = _photo()
    image = _soft_photo()
    out2 = magnify(image, 2.0, "gan", defocus_map_px=coc, model=gan_model)
    out4 = magnify(image, 4.0, "gan", defocus_map_px=coc, model=gan_model)
    for out in (out2, out4):
        assert out.shape == image.shape and out.dtype == np.float32
        np.testing.assert_array_equal(out[:, :48], image[:, :48])
    blurred = slice(52, 92)
    assert _high_freq(out4[:, blurred]) < _high_freq(out2[:, blurred]) < 0.9 * _high_freq(image[:, blurred])


def test_gan_change_fades_in_just_above_the_in_focus_radius(gan_model):
    from defocus_cli.pipelines.magnify_gan import FEATHER_PX

    image = _soft_photo()
    coc = np.zeros((64, 96), np.float32)
    coc[:, 32:] = 4.0
    full = magnify(image, 3.0, "gan", defocus_map_px=coc, model=gan_model)
    coc[:, 32:40] = 0.5 + FEATHER_PX / 2  # halfway up the fade; the blur scale stays 4 px
    half = magnify(image, 3.0, "gan", defocus_map_px=coc, model=gan_model)
    np.testing.assert_allclose(half[:, 32:40] - image[:, 32:40], 0.5 * (full[:, 32:40] - image[:, 32:40]), atol=1e-6)
    np.testing.assert_array_equal(half[:, 40:], full[:, 40:])
    assert np.abs(full[:, 32:40] - image[:, 32:40]).max() > 0.01


def test_gan_all_in_focus_returns_the_input_without_running(gan_model):
    image, _ = _photo()
    out = magnify(image, 3.0, "gan", defocus_map_px=np.zeros(image.shape[:2], np.float32), model=gan_model)
    np.testing.assert_array_equal(out, image)
    assert gan_model.feeds == []


def test_gan_feeds_focus_measure_and_m_at_the_working_resolution(gan_model, monkeypatch):
    from defocus_cli.ops.focus import composite_focus_measure
    from defocus_cli.pipelines import magnify_gan

    monkeypatch.setattr(magnify_gan, "MIN_WORKING_PX", 32)
    image = _soft_photo(240, 320, seed=1, grain_px=8)  # detail the working resolution can see
    coc = np.zeros((240, 320), np.float32)
    coc[:, 160:] = 4.0 * magnify_gan.WORKING_BLUR_PX  # blur scale 4x the working one
    info: dict = {}
    out = magnify(image, 4.0, "gan", defocus_map_px=coc, model=gan_model, info=info)
    (feed,) = gan_model.feeds
    assert feed["image"].shape == (1, 3, 60, 80) and info["working_size"] == "80x60"
    assert feed["m"].shape == (1, 1) and feed["m"][0, 0] == np.float32(4.0)
    working = feed["image"][0].transpose(1, 2, 0)
    np.testing.assert_allclose(feed["focus"][0, 0], composite_focus_measure(working), atol=1e-6)
    # The working-resolution residual reaches every full-resolution pixel of the blurred half.
    assert out.shape == image.shape
    assert _high_freq(out[8:-8, 170:-8]) < 0.7 * _high_freq(image[8:-8, 170:-8])
    np.testing.assert_array_equal(out[:, :160], image[:, :160])


def test_working_scale_rules(monkeypatch):
    from defocus_cli.pipelines import magnify_gan as gan

    monkeypatch.setattr(gan, "MIN_WORKING_PX", 100)
    monkeypatch.setattr(gan, "MAX_WORKING_PX", 1000)
    target = gan.WORKING_BLUR_PX
    assert gan.working_scale(400, 800, 0.5 * target) == 1.0  # never upscaled
    assert gan.working_scale(400, 800, 4 * target) == pytest.approx(4.0)
    assert gan.working_scale(400, 800, 50 * target) == pytest.approx(8.0)  # long side kept >= 100
    assert gan.working_scale(4000, 6000, target) == pytest.approx(6.0)  # long side kept <= 1000
    assert gan.working_scale(40, 60, 10 * target) == 1.0  # already below the minimum


def test_blur_scale_ignores_in_focus_pixels():
    from defocus_cli.pipelines.magnify_gan import blur_scale_px

    r = np.zeros((50, 50), np.float32)
    r[:5] = 8.0
    r[5:10] = 0.4
    assert blur_scale_px(r) == pytest.approx(8.0)
    assert blur_scale_px(np.full((8, 8), 0.3, np.float32)) == 0.0


@pytest.mark.parametrize("size", [(37, 53), (5, 7), (9, 1)])
def test_gan_odd_and_tiny_sizes(gan_model, size):
    rng = np.random.default_rng(2)
    image = rng.random(size + (3,)).astype(np.float32)
    coc = np.full(size, 3.0, np.float32)
    coc[0, 0] = 0.0
    out = magnify(image, 2.0, "gan", defocus_map_px=coc, model=gan_model)
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    assert out[0, 0].tolist() == image[0, 0].tolist()
    sides = gan_model.feeds[0]["image"].shape[2:]
    assert all(s % 4 == 0 and s >= 8 for s in sides)
