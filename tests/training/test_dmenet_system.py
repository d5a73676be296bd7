"""Tests for defocus_cli/training/systems/dmenet.py (tiny widths, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from defocus_cli.errors import UsageError
from defocus_cli.training.config import resolve_config
from defocus_cli.training.systems import get_system
from defocus_cli.training.systems.dmenet import DMENetSystem, lr_factor, mixed_sampler


def _system(**overrides):
    torch.manual_seed(0)
    cfg = resolve_config("dmenet", width="tiny", overrides=overrides)
    return DMENetSystem(cfg), cfg


def _batch(cfg, split="train", n=2):
    ds = DMENetSystem.make_dataset(cfg, split)
    return default_collate([ds[i] for i in range(n)])


def test_registered_with_paper_defaults() -> None:
    assert get_system("dmenet") is DMENetSystem
    assert DMENetSystem.task == "defocus-map" and DMENetSystem.stride == 16
    paper = DMENetSystem.default_config("paper")
    assert paper["model"]["width"] == 64 and paper["model"]["convs"] == [2, 2, 4, 4, 4]
    assert paper["model"]["weights"] == {"adv": 1e-3, "domain": 1.0, "content": 1e-4, "sharpness": 2e-2, "aux": 1.0}
    assert paper["train"]["batch_size"] == 4 and paper["train"]["lr"] == 1e-4


def test_unknown_model_key_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown config key"):
        resolve_config("dmenet", width="tiny", overrides={"model": {"widht": 3}})


def test_l1_and_quantile_map_losses_train_and_bad_settings_are_usage_errors() -> None:
    system, cfg = _system(model={"map_loss": "l1"})
    system.set_input(_batch(cfg))
    logs = system.optimize_parameters(0)
    assert system.cfg.map_loss == "l1" and np.isfinite(logs["L_B"]) and logs["L_B"] > 0
    with pytest.raises(UsageError, match="map_loss must be one of mse, l1, quantile"):
        _system(model={"map_loss": "huber"})
    system, cfg = _system(model={"map_loss": "quantile", "map_quantile": 0.3})
    system.set_input(_batch(cfg))
    assert np.isfinite(system.optimize_parameters(0)["L_B"])
    with pytest.raises(UsageError, match="map_quantile"):
        _system(model={"map_loss": "quantile", "map_quantile": 1.0})
    with pytest.raises(UsageError, match="map_quantile is for model.map_loss=quantile"):
        _system(model={"map_loss": "l1", "map_quantile": 0.3})


def test_one_step_without_real_data_uses_only_synthetic_terms() -> None:
    system, cfg = _system()
    batch = _batch(cfg)
    assert set(batch) == {"image", "coc_radius_px"} and batch["image"].shape == (2, 3, 32, 32)
    system.set_input(batch)
    logs = system.optimize_parameters(0)
    assert set(logs) == {"L_B", "L_aux", "L_C", "L_g"} and all(np.isfinite(list(logs.values())))
    assert system.notes["domain_adaptation"].startswith("off") and "substitute" in system.notes["content_network"]
    assert set(system.visuals()) == {"input", "target", "output"}


def test_overfits_a_fixed_batch() -> None:
    system, cfg = _system(train={"lr": 2e-3})
    system.set_input(_batch(cfg))
    first = system.optimize_parameters(0)["L_B"]
    for step in range(1, 30):
        last = system.optimize_parameters(step)["L_B"]
    assert last < 0.5 * first


def test_real_and_cuhk_folders_switch_on_domain_and_sharpness_terms(tmp_path) -> None:
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    (tmp_path / "real").mkdir()
    (tmp_path / "cuhk" / "image").mkdir(parents=True)
    (tmp_path / "cuhk" / "gt").mkdir()
    for i in range(2):
        cv2.imwrite(str(tmp_path / "real" / f"r{i}.png"), (rng.random((40, 50, 3)) * 255).astype(np.uint8))
        cv2.imwrite(str(tmp_path / "cuhk" / "image" / f"c{i}.jpg"), (rng.random((36, 48, 3)) * 255).astype(np.uint8))
        mask = np.zeros((36, 48), np.uint8)
        mask[:, :24] = 255  # white = sharp (CUHK convention)
        cv2.imwrite(str(tmp_path / "cuhk" / "gt" / f"c{i}.png"), mask)
    data = {"real_dir": str(tmp_path / "real"), "cuhk_dir": str(tmp_path / "cuhk")}
    system, cfg = _system(data=data)
    batch = _batch(cfg)
    assert {"real_image", "cuhk_image", "cuhk_blurred"} <= set(batch)
    assert set(torch.unique(batch["cuhk_blurred"]).tolist()) <= {0.0, 1.0}
    assert "real_image" not in _batch(cfg, "val")  # validation stays synthetic
    system.set_input(batch)
    before = [p.detach().clone() for p in system.discriminator.parameters()]
    logs = system.optimize_parameters(0)
    assert {"L_d", "L_adv_R", "L_adv_B", "L_S"} <= set(logs)
    assert system.notes["domain_adaptation"] == "on" and system.notes["sharpness_calibration"] == "on"
    assert any(not torch.equal(a, b) for a, b in zip(before, system.discriminator.parameters(), strict=True))
    assert all(p.requires_grad for p in system.discriminator.parameters())  # unfrozen after the B step


def test_missing_real_folder_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        DMENetSystem.make_dataset(resolve_config("dmenet", width="tiny", overrides={"data": {"real_dir": str(tmp_path / "no")}}), "train")


def test_lr_drops_by_0_8_every_20_epochs() -> None:
    assert lr_factor(1999, 100) == 1.0 and lr_factor(2000, 100) == pytest.approx(0.8)
    assert lr_factor(4000, 100) == pytest.approx(0.64)
    system, _ = _system(model={"epoch_size": 4})  # 2 steps per epoch at batch 2
    sched = system.schedulers["g"]
    assert sched.lr_lambdas[0](39) == 1.0 and sched.lr_lambdas[0](40) == pytest.approx(0.8)


def test_inference_module_and_validation_metrics() -> None:
    system, cfg = _system()
    module = system.inference_module().eval()
    with torch.no_grad():
        radius = module(torch.rand(1, 3, 48, 80))
    assert radius.shape == (1, 1, 48, 80) and float(radius.min()) >= 0
    metrics = system.validation_metrics(_batch(cfg, "val"))
    assert set(metrics) == {"mse_px2", "mae_px", "sigma_mae_px"}
    assert metrics["sigma_mae_px"] == pytest.approx(metrics["mae_px"] / 2)
    contract = system.export_contract()
    assert [t.name for t in contract.outputs] == ["coc_radius_px"] and contract.example(16, 32)[0].shape == (1, 3, 16, 32)


def test_vgg19_file_initialises_encoder_and_content_network(tmp_path) -> None:
    from defocus_cli.training.nets.dmenet import BlurNet

    source = BlurNet(width=4, convs=(1, 1, 1, 1, 1))
    path = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in source.features.state_dict().items()}, path)
    system, cfg = _system(model={"vgg19": str(path)})
    assert system.content is not None and "VGG19" in system.notes["content_network"]
    assert torch.equal(system.blur.features[0].weight, source.features[0].weight)
    system.set_input(_batch(cfg))
    assert np.isfinite(system.optimize_parameters(0)["L_C"])


def test_lr_warmup_ramps_up_linearly_then_follows_the_decay() -> None:
    assert lr_factor(0, 100, warmup=10) == pytest.approx(0.1)
    assert lr_factor(4, 100, warmup=10) == pytest.approx(0.5)
    assert lr_factor(9, 100, warmup=10) == 1.0
    assert lr_factor(2000, 100, warmup=10) == pytest.approx(0.8)


def test_lightfield_share_mixes_disc_psf_renders_into_training_only() -> None:
    draw = mixed_sampler((32, 32), 10.0, 1.0, (48, 64))
    rng = np.random.default_rng(0)
    sample = draw(rng)
    # a light-field scene of a side in [48, 64], labelled in its own px (cropped later)
    assert set(sample) == {"image", "coc_radius_px"}
    assert 48 <= sample["image"].shape[0] <= 64 and sample["coc_radius_px"].shape == sample["image"].shape[:2]
    assert sample["coc_radius_px"].min() >= 0.0 and sample["coc_radius_px"].max() <= 10.0 + 1e-4
    syndof = mixed_sampler((32, 32), 10.0, 0.0, (48, 64))(np.random.default_rng(0))
    assert syndof["image"].shape[:2] == (32, 32)

    _, cfg = _system(data={"lightfield_share": 1.0, "lightfield_size": [40, 48]})
    assert _batch(cfg, "train")["image"].shape == (2, 3, 32, 32)
    assert _batch(cfg, "val")["image"].shape == (2, 3, 32, 32)


@pytest.mark.parametrize(("share", "size"), [(1.5, [128, 256]), (0.5, [16, 64]), (0.5, [96, 64])])
def test_bad_lightfield_settings_are_usage_errors(share, size) -> None:
    with pytest.raises(UsageError, match="lightfield"):
        mixed_sampler((32, 32), 10.0, share, tuple(size))
