"""Tests for defocus_cli/training/systems/deeplens.py (tiny widths, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from defocus_cli.errors import UsageError
from defocus_cli.training.config import resolve_config
from defocus_cli.training.systems import get_system
from defocus_cli.training.systems.deeplens import (
    DeepLensBlurSystem,
    DeepLensDepthSystem,
    signed_depth,
)


def _system(name: str, **overrides):
    torch.manual_seed(0)
    cfg = resolve_config(name, width="tiny", overrides=overrides)
    return get_system(name)(cfg), cfg


def _batch(name: str, cfg, split: str = "train", n: int = 2):
    ds = get_system(name).make_dataset(cfg, split)
    return default_collate([ds[i] for i in range(n)])


def test_registered_with_paper_widths() -> None:
    assert get_system("deeplens-depth") is DeepLensDepthSystem and DeepLensDepthSystem.task == "depth"
    assert get_system("deeplens-blur") is DeepLensBlurSystem and DeepLensBlurSystem.task == "lens-blur"
    depth = DeepLensDepthSystem.default_config("paper")["model"]
    assert depth["width"] == 64 and depth["blocks"] == [3, 4, 6] and depth["bins"] == [1, 2, 4, 8]
    blur = DeepLensBlurSystem.default_config("paper")["model"]
    assert 4 * blur["feature_width"] == 32 and blur["alpha"] == 1.5
    # off the paper's widths: a plain L1 and a faster rate, decayed over the second half
    cpu = DeepLensBlurSystem.default_config("cpu")
    assert cpu["model"]["alpha"] == 0.0 and cpu["train"]["lr"] == 1e-3


def test_depth_trains_overfits_and_exports_normalized_depth() -> None:
    system, cfg = _system("deeplens-depth", train={"lr": 3e-3})
    batch = _batch("deeplens-depth", cfg)
    assert set(batch) == {"image", "depth", "segmentation"}
    system.set_input(batch)
    first = system.optimize_parameters(0)["J_d"]
    for step in range(1, 30):
        last = system.optimize_parameters(step)["J_d"]
    assert last < 0.6 * first
    assert "random" in system.notes["encoder_init"]
    module = system.inference_module().eval()
    with torch.no_grad():
        depth, subject = module(torch.rand(1, 3, 24, 40))
    assert depth.shape == subject.shape == (1, 1, 24, 40)
    assert float(depth.min()) == pytest.approx(0, abs=1e-6) and float(depth.max()) == pytest.approx(1, abs=1e-4)
    assert float(subject.min()) >= 0 and float(subject.max()) <= 1  # a probability, not normalized
    assert [t.name for t in system.export_contract().outputs] == ["depth", "subject"]
    assert set(system.validation_metrics(_batch("deeplens-depth", cfg, "val"))) == {"depth_mae"}


def test_blur_trains_and_overfits_a_fixed_batch() -> None:
    system, cfg = _system("deeplens-blur", train={"lr": 3e-3})
    batch = _batch("deeplens-blur", cfg)
    assert {"image", "depth_corrupted", "focus_depth", "blur_radius_px", "target"} <= set(batch)
    assert set(system.schedulers) == {"blur"}  # the rate decays over the second half
    system.set_input(batch)
    first = system.optimize_parameters(0)["J"]
    for step in range(1, 60):
        last = system.optimize_parameters(step)["J"]
    assert last < 0.7 * first
    pred, target = system.predict(batch)
    assert pred.shape == target.shape == (2, 3, 32, 32)
    module = system.inference_module().eval()
    with torch.no_grad():
        out = module(torch.rand(1, 3, 24, 44), torch.rand(1, 1, 24, 44) - 0.5)
    assert out.shape == (1, 3, 24, 44) and float(out.min()) >= 0 and float(out.max()) <= 1


def test_signed_depth_scales_with_the_aperture() -> None:
    depth = torch.full((2, 1, 2, 2), 0.75)
    focus = torch.tensor([[0.25], [0.25]])
    out = signed_depth(depth, focus, torch.tensor([[10.0], [5.0]]), 10.0)
    assert torch.allclose(out[0], torch.full((1, 2, 2), 0.5)) and torch.allclose(out[1], torch.full((1, 2, 2), 0.25))


def test_blur_config_errors() -> None:
    with pytest.raises(UsageError, match="depth_input"):
        _system("deeplens-blur", model={"depth_input": "disparity"})
    with pytest.raises(UsageError, match="levels"):
        _system("deeplens-blur", model={"levels": 3})
    with pytest.raises(UsageError, match="largest aperture"):
        _system("deeplens-blur", data={"blur_radius_px": [2.0, 20.0]})


def test_rgbd_folder_mixes_depth_and_segmentation_sources(tmp_path) -> None:
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    (tmp_path / "image").mkdir()
    (tmp_path / "depth").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "image" / f"p{i}.jpg"), (rng.random((40, 56, 3)) * 255).astype(np.uint8))
        cv2.imwrite(str(tmp_path / "depth" / f"p{i}.png"), (rng.random((40, 56)) * 65535).astype(np.uint16))
    system, cfg = _system("deeplens-depth", data={"dir": str(tmp_path)})
    batch = _batch("deeplens-depth", cfg)
    assert set(batch) == {"image", "depth", "seg_image", "segmentation"}
    assert set(_batch("deeplens-depth", cfg, "val")) == {"image", "depth", "segmentation"}
    system.set_input(batch)
    assert np.isfinite(system.optimize_parameters(0)["J_d"])


def test_resnet50_file_initialises_the_encoder(tmp_path) -> None:
    from defocus_cli.training.nets.resnet import ResNetEncoder

    source = ResNetEncoder(width=4, blocks=(1, 1, 1))
    path = tmp_path / "resnet50.pth"
    torch.save(source.state_dict() | {"fc.weight": torch.zeros(2, 2)}, path)
    system, _ = _system("deeplens-depth", model={"resnet50": str(path)})
    assert "--resnet50" in system.notes["encoder_init"]
    assert torch.equal(system.net.encoder.conv1.weight, source.conv1.weight)


def test_depth_reads_npz_samples_in_subfolders(tmp_path) -> None:
    from defocus_cli.data.tasks import depth_scene_sample

    for part in ("scenes", "closeups"):
        (tmp_path / part).mkdir()
        sample = depth_scene_sample(np.random.default_rng(len(part)), 32)
        np.savez(tmp_path / part / "000000.npz", **sample)
    cfg = resolve_config("deeplens-depth", width="tiny", overrides={"data": {"dir": str(tmp_path), "crop": [32, 32]}})
    ds = get_system("deeplens-depth").make_dataset(cfg, "train")
    assert len(ds) == 2 and set(ds[0]) == {"image", "depth", "segmentation"}


def test_depth_data_shares_are_fractions() -> None:
    cfg = resolve_config("deeplens-depth", width="tiny", overrides={"data": {"closeup_share": 1.5}})
    with pytest.raises(UsageError, match="closeup_share"):
        get_system("deeplens-depth").make_dataset(cfg, "val")
    cfg = resolve_config("deeplens-depth", width="tiny", overrides={"data": {"closeup_share": 1.0, "composite_share": 0.0,
                                                                             "crop": [32, 32]}})
    sample = get_system("deeplens-depth").make_dataset(cfg, "val")[0]
    assert float(sample["segmentation"].mean()) > 0.15  # a close-up fills much of the frame
