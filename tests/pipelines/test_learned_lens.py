"""``pipelines.learned_lens`` with a stand-in of the DeepLens lens-blur export.

The stand-in returns ``image * (1 - a) + 0.5 a``, ``a = min(|signed_depth|, 1)``, so the
signed depth the pipeline feeds it (``alpha * (D - d_f)``, ``alpha = K_work / K_max``) can be
read back from the output exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from defocus_cli.models.resolve import ResolvedModel
from defocus_cli.models.session import ModelSession, create_session
from defocus_cli.pipelines.learned_lens import MAX_WORKING_PX, learned_shallow_dof, working_scale
from tests.models.tiny_deeplens import MAX_BLUR_RADIUS_PX, lens_blur_standin, lens_spec


@pytest.fixture
def lens(tmp_path: Path) -> ModelSession:
    path = tmp_path / "lens.onnx"
    lens_blur_standin(path)
    return create_session(ResolvedModel(path, lens_spec(), "0" * 64, "path", "none"), device="cpu", threads=1)


def _scene(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    image = np.full((h, w, 3), 0.8, np.float32)
    depth = np.full((h, w), 0.1, np.float32)
    depth[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 0.9
    return image, depth


def test_working_scale():
    assert working_scale(100, 100, 5.0, 10.0) == 1.0
    assert working_scale(100, 100, 40.0, 10.0) == 4.0
    assert working_scale(3000, 2 * MAX_WORKING_PX, 5.0, 10.0) == 2.0


def test_small_aperture_scales_the_signed_depth(lens: ModelSession):
    image, depth = _scene(40, 60)
    out = learned_shallow_dof(image, depth, focus_depth=0.9, blur_radius_px=5.0, model=lens, grain=False)
    # alpha = 5 / 10: the background gets a = 0.4, the subject (in focus) stays as it was.
    np.testing.assert_allclose(out[20, 30], 0.8, atol=1e-6)
    np.testing.assert_allclose(out[2, 2], 0.8 * 0.6 + 0.5 * 0.4, atol=1e-5)
    assert out.shape == image.shape and out.dtype == np.float32


def test_large_aperture_runs_smaller_with_alpha_one(lens: ModelSession):
    image, depth = _scene(64, 96)
    k = 4 * MAX_BLUR_RADIUS_PX  # rendered at 1/4 size, where K is K_max
    out = learned_shallow_dof(image, depth, focus_depth=0.9, blur_radius_px=k, model=lens, grain=False)
    assert out.shape == image.shape
    np.testing.assert_allclose(out[2, 2], 0.8 * 0.2 + 0.5 * 0.8, atol=1e-5)
    np.testing.assert_allclose(out[32, 48], 0.8, atol=1e-5)


def test_in_focus_detail_survives_the_working_resolution(lens: ModelSession):
    rng = np.random.default_rng(0)
    image = rng.uniform(0.1, 0.9, (80, 120, 3)).astype(np.float32)  # per-pixel texture
    depth = np.full((80, 120), 0.9, np.float32)
    depth[:, :30] = 0.1
    out = learned_shallow_dof(image, depth, focus_depth=0.9, blur_radius_px=60.0, model=lens, grain=False)
    # In focus: the full-resolution texture is back, though the network ran at 1/6 size.
    np.testing.assert_allclose(out[10:70, 60:110], image[10:70, 60:110], atol=1e-4)
    # Far behind the focus: the fine texture is gone.
    assert out[10:70, 2:20].std() < 0.3 * image[10:70, 2:20].std()


def test_shape_checks(lens: ModelSession):
    image, depth = _scene(40, 60)
    with pytest.raises(ValueError):
        learned_shallow_dof(image, depth[:20], 0.5, 5.0, lens)
    with pytest.raises(ValueError):
        learned_shallow_dof(image, depth, 0.5, -1.0, lens)


class _Flat:
    """A 'lens' that returns mid-grey everywhere, in focus included."""

    spec = lens_spec()

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"output": np.full_like(feed["image"], 0.5)}


def test_in_focus_pixels_are_the_photos_own_whatever_the_network_does():
    image, depth = _scene(40, 60)
    out = learned_shallow_dof(image, depth, focus_depth=0.9, blur_radius_px=5.0, model=_Flat(), grain=False)
    np.testing.assert_array_equal(out[12:28, 17:43], image[12:28, 17:43])  # CoC 0: untouched
    np.testing.assert_allclose(out[2, 2], 0.5, atol=1e-6)  # CoC 4 px: the network's render
