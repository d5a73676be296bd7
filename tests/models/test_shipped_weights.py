"""The checkpoints shipped in weights/: intact, within the size budget, and doing their job."""

from __future__ import annotations

import numpy as np
import pytest

from defocus_cli.cli.model_options import LoadedModel, open_model
from defocus_cli.data.tasks import (
    deeplens_sample,
    defocus_map_sample,
    depth_scene_sample,
    focal_stack_sample,
    magnify_sample,
)
from defocus_cli.models.registry import bundled_weights_dir, read_manifest
from defocus_cli.models.resolve import sha256_file
from defocus_cli.ops.lens import IN_FOCUS_RADIUS_PX
from defocus_cli.ops.metrics import psnr, ssim
from defocus_cli.pipelines.deblur import deblur
from defocus_cli.pipelines.defocus_map import defocus_map
from defocus_cli.pipelines.depth import predict_depth
from defocus_cli.pipelines.learned_lens import learned_shallow_dof
from defocus_cli.pipelines.magnify import magnify
from defocus_cli.pipelines.refocus import refocus
from defocus_cli.training.eval_deeplens import rank_correlation

MANIFEST = read_manifest(bundled_weights_dir() / "manifest.json")
#: Job families and their weight budgets (DESIGN.md: about 10 MB each, 30 MB in all).
FAMILY_OF_TASK = {"magnify": "magnify", "defocus-map": "magnify", "deblur": "refocus", "refocus": "refocus",
                  "depth": "deeplens", "lens-blur": "deeplens", "upsample": "deeplens"}
FAMILY_BUDGET_MB = {"magnify": 10, "refocus": 10, "deeplens": 10}


@pytest.fixture(autouse=True)
def _bundled_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEFOCUS_WEIGHTS_DIR", raising=False)


def test_every_entry_is_intact_and_documented() -> None:
    assert {spec.task for spec in MANIFEST} >= {"magnify", "defocus-map", "deblur", "refocus", "depth", "lens-blur"}
    for spec in MANIFEST:
        path = bundled_weights_dir() / spec.file
        assert sha256_file(path) == spec.sha256, spec.name
        card = (bundled_weights_dir() / spec.card).read_text(encoding="utf-8")
        assert "steps" in card.lower() and spec.name in card


def test_weights_stay_within_the_size_budget() -> None:
    sizes: dict[str, float] = {}
    for spec in MANIFEST:
        family = FAMILY_OF_TASK[spec.task]
        sizes[family] = sizes.get(family, 0.0) + (bundled_weights_dir() / spec.file).stat().st_size / 1e6
    assert sum(sizes.values()) < 30
    for family, budget in FAMILY_BUDGET_MB.items():
        assert sizes.get(family, 0.0) < budget, family


def _focused_scene(seed: int, m: float) -> dict[str, np.ndarray]:
    return magnify_sample(np.random.default_rng(90_000 + seed), (160, 160), m=m)


@pytest.mark.parametrize("method", ["gan", "map"])
def test_magnify_m1_is_the_identity(method: str) -> None:
    image = _focused_scene(0, 1.0)["narrow"]
    model = open_model("magnify", device="cpu") if method == "gan" else None
    np.testing.assert_array_equal(magnify(image, 1.0, method, model=model), image)


@pytest.mark.parametrize("method", ["gan", "map"])
def test_magnify_changes_blurred_pixels_and_leaves_sharp_ones(method: str) -> None:
    model = open_model("magnify", device="cpu") if method == "gan" else None
    changed_blurred, changed_sharp = [], []
    for seed in range(3):
        scene = _focused_scene(seed, 3.0)
        coc = np.abs(scene["coc_radius_px"])
        out = magnify(scene["narrow"], 3.0, method, defocus_map_px=coc, model=model, grain=False)
        change = np.abs(out - scene["narrow"]).max(axis=2)
        changed_sharp.append(change[coc < IN_FOCUS_RADIUS_PX].max())
        changed_blurred.append(change[coc > 1.5].mean() if (coc > 1.5).any() else np.nan)
    # A given map marks the sharp pixels: the pipelines keep them bit for bit.
    assert max(changed_sharp) == 0.0
    assert np.nanmean(changed_blurred) > 2 / 255


def test_learned_defocus_map_reads_blur_where_it_is() -> None:
    estimator = open_model("defocus-map", device="cpu")
    errors, zero_errors, contrast = [], [], []
    for seed in range(4):
        s = defocus_map_sample(np.random.default_rng(70_000 + seed), (128, 128))
        truth = np.abs(s["coc_radius_px"])
        estimate = defocus_map(s["image"], "learned", model=estimator)
        assert estimate.shape == truth.shape and estimate.dtype == np.float32
        errors.append(np.abs(estimate - truth).mean())
        zero_errors.append(truth.mean())
        sharp, blurred = truth < IN_FOCUS_RADIUS_PX, truth > 3
        if sharp.any() and blurred.any():
            contrast.append(estimate[blurred].mean() - estimate[sharp].mean())
    assert np.mean(errors) < 0.7 * np.mean(zero_errors)
    assert contrast and np.mean(contrast) > 1.0


def _edge_width_px(image: np.ndarray) -> float:
    """10-90 % rise of a vertical step edge, averaged over the middle rows (green channel)."""
    profile = image[16:-16, :, 1].mean(axis=0)
    low, high = profile[:20].mean(), profile[-20:].mean()
    rise = (profile - low) / (high - low)
    return float(np.argmax(rise > 0.9) - np.argmax(rise > 0.1))


def test_deblur_sharpens_a_blurred_edge() -> None:
    import cv2

    from defocus_cli.ops.bokeh import aperture_kernel
    from defocus_cli.ops.color import linear_to_srgb, srgb_to_linear

    sharp = np.full((96, 128, 3), 0.2, np.float32)
    sharp[:, 64:] = 0.8
    blurred_linear = cv2.filter2D(srgb_to_linear(sharp), -1, aperture_kernel(3.0), borderType=cv2.BORDER_REFLECT)
    blurred = np.clip(linear_to_srgb(blurred_linear), 0, 1).astype(np.float32)
    out = deblur(blurred, open_model("deblur", device="cpu")).pixels
    assert _edge_width_px(out) <= _edge_width_px(blurred) - 2


def _refocus_pair() -> tuple[LoadedModel, LoadedModel]:
    """The shipped G2 and the G1 ``refocus`` feeds it from: the one it names, installed."""
    g2 = open_model("refocus", device="cpu")
    stage1 = g2.spec.extra.get("deblur_model")
    assert stage1 is None or stage1 in {spec.name for spec in MANIFEST}
    return open_model("deblur", stage1, device="cpu"), g2


def test_refocus_moves_the_focus_across_the_stack() -> None:
    g1, g2 = _refocus_pair()
    gains = []
    for seed in range(4):
        stack = focal_stack_sample(np.random.default_rng(60_000 + seed), (128, 128), slice_indices=(0, 9))
        near, far = stack["slices"]
        out = refocus(near, 9, g2, g1).pixels
        gains.append(psnr(out, far) - psnr(near, far))
    assert np.mean(gains) > 0.5


def test_refocus_delta_zero_is_the_photo() -> None:
    stack = focal_stack_sample(np.random.default_rng(60_100), (64, 96), slice_indices=(3,))
    image = stack["slices"][0]
    g1, g2 = _refocus_pair()
    result = refocus(image, 0, g2, g1)
    np.testing.assert_array_equal(result.pixels, image)


def test_depth_ranks_held_out_scenes() -> None:
    model = open_model("depth", device="cpu")
    scores = []
    for seed in range(6):
        scene = depth_scene_sample(np.random.default_rng(61_000 + seed), (128, 128))
        depth = predict_depth(scene["image"], model)
        assert depth.shape == scene["depth"].shape and 0.0 <= depth.min() <= depth.max() <= 1.0
        scores.append(rank_correlation(depth, scene["depth"]))
    assert np.mean(scores) > 0.5


def test_learned_lens_keeps_focus_and_blurs_the_rest() -> None:
    from defocus_cli.ops.lens import signed_coc_radius

    lens = open_model("lens-blur", device="cpu")
    gains = []
    for seed in range(4):
        s = deeplens_sample(np.random.default_rng(80_000 + seed), (128, 128))
        focus, k = float(s["focus_depth"]), float(s["blur_radius_px"])
        out = learned_shallow_dof(s["image"], s["depth"], focus, k, lens, grain=False)
        sharp = np.abs(signed_coc_radius(s["depth"], focus, k)) < IN_FOCUS_RADIUS_PX
        np.testing.assert_array_equal(out[sharp], s["image"][sharp])
        gains.append(ssim(out, s["target"]) - ssim(s["image"], s["target"]))
    assert np.mean(gains) > 0.02
