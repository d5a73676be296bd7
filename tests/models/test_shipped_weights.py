"""The checkpoints shipped in weights/: intact, within the size budget, and doing their job."""

from __future__ import annotations

import numpy as np
import pytest

from defocus_cli.cli.model_options import open_model
from defocus_cli.data.tasks import defocus_map_sample, magnify_sample
from defocus_cli.models.registry import bundled_weights_dir, read_manifest
from defocus_cli.models.resolve import sha256_file
from defocus_cli.ops.lens import IN_FOCUS_RADIUS_PX
from defocus_cli.pipelines.defocus_map import defocus_map
from defocus_cli.pipelines.magnify import magnify

MANIFEST = read_manifest(bundled_weights_dir() / "manifest.json")
FAMILY_BUDGET_MB = {"magnify": 10, "defocus-map": 10}


@pytest.fixture(autouse=True)
def _bundled_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEFOCUS_WEIGHTS_DIR", raising=False)


def test_every_entry_is_intact_and_documented() -> None:
    assert {spec.task for spec in MANIFEST} >= {"magnify", "defocus-map"}
    for spec in MANIFEST:
        path = bundled_weights_dir() / spec.file
        assert sha256_file(path) == spec.sha256, spec.name
        card = (bundled_weights_dir() / spec.card).read_text(encoding="utf-8")
        assert "steps" in card.lower() and spec.name in card


def test_weights_stay_within_the_size_budget() -> None:
    sizes: dict[str, float] = {}
    for spec in MANIFEST:
        family = "magnify" if spec.task == "magnify" else spec.task
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
