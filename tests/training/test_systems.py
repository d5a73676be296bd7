"""Tests for defocus_cli/training/template.py, systems/ (registry, magnify, deblur, refocus),
config.py and datasets.py."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from defocus_cli.errors import UsageError
from defocus_cli.training.config import resolve_config
from defocus_cli.training.datasets import StepSampler
from defocus_cli.training.systems import get_system, register_system, system_names
from defocus_cli.training.systems.refocus import one_hot_delta
from defocus_cli.training.template import linear_decay

SYSTEMS = {
    "magnify": {},
    "deblur": {},
    "refocus": {},
    "refocus-single-stage": {"model": {"stages": 1, "deltas": [8]}},
}


def _system(key: str, crop=(32, 32), **train):
    name = key.split("-")[0]
    overrides = {"data": {"crop": list(crop)}, "train": {"steps": 100, **train}, **SYSTEMS[key]}
    cfg = resolve_config(name, "tiny", overrides)
    torch.manual_seed(0)
    cls = get_system(name)
    return cls(cfg), cls, cfg


def _batch(cls, cfg, n=2, split="train"):
    ds = cls.make_dataset(cfg, split)
    return default_collate([ds[i] for i in range(n)])


def test_registry_names_and_duplicates():
    assert {"magnify", "deblur", "refocus", "dmenet", "deeplens-depth", "deeplens-blur"} <= set(system_names())
    cls = get_system("magnify")
    assert register_system(cls) is cls  # re-registering the same class is harmless

    class Impostor(cls):
        name = "magnify"

    with pytest.raises(ValueError, match="registered twice"):
        register_system(Impostor)
    with pytest.raises(UsageError, match="did you mean magnify"):
        get_system("magnfy")


def test_config_refuses_unknown_keys_and_bad_crops():
    with pytest.raises(UsageError, match="model.ngff"):
        resolve_config("magnify", "tiny", {"model": {"ngff": 3}})
    with pytest.raises(UsageError, match="multiples of 4"):
        resolve_config("magnify", "tiny", {"data": {"crop": [30, 32]}})
    with pytest.raises(UsageError, match="width"):
        resolve_config("magnify", "huge")
    paper = resolve_config("magnify", "paper")["model"]
    assert (paper["ngf"], paper["blocks_before"], paper["blocks_after"]) == (64, 4, 5)
    assert (paper["lambda_x"], paper["lambda_f"], paper["lambda_gp"]) == (100.0, 50.0, 10.0)


def test_linear_decay_holds_then_reaches_zero():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_decay(opt, 10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == [1.0] * 5 and lrs[5] == pytest.approx(1.0) and lrs[9] == pytest.approx(0.2)
    assert opt.param_groups[0]["lr"] == 0.0


def test_step_sampler_resumes_and_splits_ranks():
    full = list(StepSampler(2**40, 2, 0, 4))
    assert full == list(range(8))
    assert list(StepSampler(2**40, 2, 2, 4)) == full[4:]
    r0, r1 = list(StepSampler(2**40, 2, 0, 2, rank=0, world_size=2)), list(StepSampler(2**40, 2, 0, 2, rank=1, world_size=2))
    assert sorted(r0 + r1) == list(range(8)) and not set(r0) & set(r1)
    finite = list(StepSampler(5, 2, 0, 5))
    assert sorted(finite[:5]) == list(range(5))  # one shuffled epoch, then the next


def test_train_and_val_splits_are_disjoint_and_deterministic():
    _, cls, cfg = _system("magnify")
    train, val = cls.make_dataset(cfg, "train"), cls.make_dataset(cfg, "val")
    assert torch.equal(train[3]["image"], cls.make_dataset(cfg, "train")[3]["image"])
    assert not torch.equal(train[0]["image"], val[0]["image"])


@pytest.mark.parametrize("key", list(SYSTEMS))
def test_one_step_at_non_square_size(key):
    system, cls, cfg = _system(key, crop=(48, 40))
    batch = _batch(cls, cfg)
    assert batch["image"].shape == (2, 3, 48, 40)
    system.set_input(batch)
    start = time.perf_counter()
    logs = system.optimize_parameters(0)
    assert time.perf_counter() - start < 10
    assert all(isinstance(v, float) for v in logs.values()) and "loss_g" in logs
    assert all(v.shape[-2:] == (48, 40) for v in system.visuals().values())
    metrics = system.validation_metrics(batch)
    assert set(metrics) == {"psnr", "ssim"} and 0 < metrics["ssim"] <= 1


def test_critic_is_frozen_during_generator_step():
    system, cls, cfg = _system("magnify")
    system.set_input(_batch(cls, cfg))
    before = {k: v.clone() for k, v in system.critic.state_dict().items()}
    seen = []
    original = system.optimizers["generator"].step

    def spy(*args, **kwargs):
        seen.append([p.requires_grad for p in system.critic.parameters()])
        return original(*args, **kwargs)

    system.optimizers["generator"].step = spy
    system.model_config["critic_iters"] = 0  # isolate the generator step
    system.optimize_parameters(0)
    assert seen and not any(any(flags) for flags in seen)
    assert all(torch.equal(before[k], v) for k, v in system.critic.state_dict().items())
    assert all(p.requires_grad for p in system.critic.parameters())  # unfrozen afterwards


@pytest.mark.parametrize("key", ["magnify", "deblur", "refocus"])
def test_overfits_a_fixed_batch(key):
    system, cls, cfg = _system(key, lr=1e-3)
    batch = _batch(cls, cfg)
    system.set_input(batch)
    content = [system.optimize_parameters(i)["loss_content"] for i in range(30)]
    assert sum(content[-5:]) / 5 < 0.75 * sum(content[:3]) / 3, content


def test_magnify_loss_configs_switch_terms():
    for config, absent in [(1, "loss_gan"), (2, "loss_content"), (3, "loss_focus")]:
        cls = get_system("magnify")
        cfg = resolve_config("magnify", "tiny", {"model": {"loss_config": config}})
        system = cls(cfg)
        system.set_input(_batch(cls, cfg))
        logs = system.optimize_parameters(0)
        assert absent not in logs and "loss_g" in logs
    with pytest.raises(UsageError, match="loss_config"):
        cls(resolve_config("magnify", "tiny", {"model": {"loss_config": 5}}))


def test_refocus_inputs_and_one_hot():
    system, cls, cfg = _system("refocus")
    batch = _batch(cls, cfg, n=4)
    assert set(batch) == {"image", "radiance", "delta", "target"}
    assert set(batch["delta"].flatten().tolist()) <= {-9.0, -5.0, 5.0, 9.0}
    hot = one_hot_delta(torch.tensor([[-9.0], [0.0], [9.0]]))
    assert hot.shape == (3, 19) and hot.sum(1).tolist() == [1, 1, 1]
    assert hot[0, 0] == 1 and hot[1, 9] == 1 and hot[2, 18] == 1
    assert system.generator.after[0].body[1].in_channels == 4 * 4 + 1  # delta at the innermost layer
    with pytest.raises(UsageError):
        cls(resolve_config("refocus", "tiny", {"model": {"deltas": [12]}}))


def test_refocus_repeated_deltas_weight_the_draws_and_export_once():
    cfg = resolve_config("refocus", "tiny", {"data": {"crop": [32, 32]}, "model": {"deltas": [9, 9, 9, 1]}})
    cls = get_system("refocus")
    dataset = cls.make_dataset(cfg, "train")
    drawn = [int(dataset[i]["delta"].item()) for i in range(40)]
    assert set(drawn) == {1, 9} and drawn.count(9) > drawn.count(1)
    assert cls(cfg).export_contract().extra["deltas"] == [1, 9]


def test_refocus_radiance_mix_moves_the_training_radiance_towards_the_slice():
    cfg = resolve_config("refocus", "tiny", {"data": {"crop": [32, 32]}, "model": {"radiance_mix": [0.5, 0.5]}})
    cls = get_system("refocus")
    system = cls(cfg)
    batch = _batch(cls, cfg)
    truth = batch["radiance"].clone()
    system.set_input(batch)
    system.optimize_parameters(0)
    torch.testing.assert_close(system.batch["radiance"], 0.5 * (truth + batch["image"]))
    assert "radiance" in system.notes
    for bad in ([0.6, 0.2], [0.0, 1.5], "x"):
        with pytest.raises(UsageError, match="radiance_mix"):
            cls(resolve_config("refocus", "tiny", {"model": {"radiance_mix": bad}}))


def test_state_dict_round_trip_includes_optimizers():
    system, cls, cfg = _system("deblur")
    system.set_input(_batch(cls, cfg))
    system.optimize_parameters(0)
    state = system.state_dict()
    assert set(state) == {"networks", "optimizers", "schedulers"}
    other = cls(cfg)
    other.load_state_dict(state)
    assert other.optimizers["generator"].state_dict()["state"]
    for a, b in zip(system.parameters(), other.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", system_names())
def test_every_registered_system_honours_the_template(name):
    """Registry-driven: each system resolves its tiny preset and its exported graph takes the
    inputs its contract names, at a non-square size that is a multiple of its stride."""
    import inspect

    from defocus_cli.models.registry import TASKS

    cls = get_system(name)
    assert cls.name == name and cls.task in TASKS and cls.stride >= 1
    for width in ("paper", "cpu", "tiny"):
        resolve_config(name, width)
    system = cls(resolve_config(name, "tiny"))
    contract = system.export_contract()
    module = system.inference_module()
    assert len(inspect.signature(module.forward).parameters) == len(contract.inputs)
    side = max(system.stride, 8)
    example = contract.example(4 * side, 5 * side)
    assert len(example) == len(contract.inputs)
    with torch.no_grad():
        out = module(*example)
    outs = out if isinstance(out, tuple | list) else (out,)
    assert len(outs) == len(contract.outputs)
    for tensor, spec in zip(outs, contract.outputs, strict=True):
        assert tensor.ndim == spec.rank
        if "H" in spec.layout:
            assert tensor.shape[spec.layout.index("H")] == 4 * side
            assert tensor.shape[spec.layout.index("W")] == 5 * side


def test_refocus_radiance_model_trains_and_validates_on_g1s_radiance(tmp_path):
    from defocus_cli.pipelines.deblur import deblur_network
    from tests.models.tiny_refocus import deblur_spec, deblur_standin, load

    g1_path = tmp_path / "deblur_standin.onnx"
    g1 = load(tmp_path, deblur_standin, deblur_spec())
    cfg = resolve_config("refocus", "tiny", {"data": {"crop": [32, 32]}, "model": {"radiance_model": str(g1_path)}})
    cls = get_system("refocus")
    system = cls(cfg)
    batch = _batch(cls, cfg)
    expected = torch.stack([torch.from_numpy(np.clip(deblur_network(g1, im.permute(1, 2, 0).numpy()), 0, 1))
                            for im in batch["image"]]).permute(0, 3, 1, 2)
    assert not torch.allclose(expected, batch["radiance"])  # G1's radiance is not the truth
    system.set_input(batch)
    torch.testing.assert_close(system.batch["radiance"], expected)
    system.optimize_parameters(0)
    seen = {}

    def spying_inputs(b):
        seen["radiance"] = b["radiance"]
        return cls.generator_inputs(system, b)

    system.generator_inputs = spying_inputs
    system.predict(batch)  # validation feeds the same radiance
    torch.testing.assert_close(seen["radiance"], expected)
    assert "deblur_standin.onnx" in system.notes["radiance"]
    bad = [({"stages": 1}, "two-stage"), ({"radiance_mix": [0.2, 0.5]}, "use one"), ({}, "not a file")]
    for extra, message in bad:
        path = str(g1_path) if "stages" in extra or "radiance_mix" in extra else str(tmp_path / "missing.onnx")
        with pytest.raises(UsageError, match=message):
            cls(resolve_config("refocus", "tiny", {"model": {"radiance_model": path, **extra}}))


def test_deblur_trained_through_a_frozen_refocus_model(tmp_path):
    from defocus_cli.training.export import export_onnx

    g2_cfg = resolve_config("refocus", "tiny", {"data": {"crop": [32, 32]}, "model": {"use_gan": False}})
    g2 = get_system("refocus")(g2_cfg)
    g2_path = tmp_path / "g2.onnx"
    export_onnx(g2, g2_path, sizes=((32, 32),))
    cfg = resolve_config("deblur", "tiny", {"data": {"crop": [32, 32]},
                                             "model": {"refocus_model": str(g2_path), "refocus_deltas": [-9, 9]}})
    cls = get_system("deblur")
    system = cls(cfg)
    batch = _batch(cls, cfg)
    assert {"image", "sml", "target", "delta", "refocus_target"} <= set(batch)
    assert set(batch["delta"].flatten().tolist()) <= {-9.0, 9.0}
    partner_before = [p.clone() for p in system.refocus_partner.parameters()]
    system.set_input(batch)
    logs = system.optimize_parameters(0)
    assert logs["loss_refocus"] > 0 and "g2.onnx" in system.notes["refocus_loss"]
    for before, after in zip(partner_before, system.refocus_partner.parameters(), strict=True):
        torch.testing.assert_close(before, after)  # G2 stays frozen; only G1 learns
    assert system.export_contract().inputs[0].name == "image"  # still a deblur graph
    assert not any(key.startswith("refocus") for key in system.state_dict()["networks"])  # G1 alone is saved
    for extra, message in [({"refocus_weight": 0}, "refocus_weight"), ({"refocus_deltas": [10]}, "deltas")]:
        with pytest.raises(UsageError, match=message):
            cls(resolve_config("deblur", "tiny", {"model": {"refocus_model": str(g2_path), **extra}}))
    with pytest.raises(UsageError, match="not a file"):
        cls(resolve_config("deblur", "tiny", {"model": {"refocus_model": str(tmp_path / "missing.onnx")}}))


def test_deblur_and_refocus_trained_jointly(tmp_path):
    from defocus_cli.training.export import export_onnx

    g2 = get_system("refocus")(resolve_config("refocus", "tiny", {"model": {"use_gan": False}}))
    g2_path = tmp_path / "g2.onnx"
    export_onnx(g2, g2_path, sizes=((32, 32),))
    cfg = resolve_config("deblur", "tiny", {"data": {"crop": [32, 32]},
                                             "model": {"refocus_model": str(g2_path), "refocus_trainable": True,
                                                       "refocus_deltas": [-9, 9]}})
    cls = get_system("deblur")
    system = cls(cfg)
    g1_before = [p.clone() for p in system.generator.parameters()]
    g2_before = [p.clone() for p in system.refocus_partner.generator.parameters()]
    system.set_input(_batch(cls, cfg))
    assert system.optimize_parameters(0)["loss_refocus"] > 0
    for before, network in ((g1_before, system.generator), (g2_before, system.refocus_partner.generator)):
        assert any(not torch.equal(b, a) for b, a in zip(before, network.parameters(), strict=True))
    networks = system.state_dict()["networks"]
    assert any(key.startswith("refocus_generator.") for key in networks)  # G2 is checkpointed with G1
    assert {"generator", "refocus"} <= set(system.optimizers) and "refocus" in system.schedulers
    part = system.part("refocus")
    assert [t.name for t in part.export_contract().inputs] == ["image", "radiance", "delta"]
    assert "jointly" in part.notes["trained"] and "--part refocus" in system.notes["refocus_loss"]
    frozen_g2 = cls(resolve_config("deblur", "tiny", {"model": {"refocus_model": str(g2_path)}}))
    with pytest.raises(UsageError, match="no part 'refocus'"):
        frozen_g2.part("refocus")
    with pytest.raises(UsageError, match="needs model.refocus_model"):
        cls(resolve_config("deblur", "tiny", {"model": {"refocus_trainable": True}}))
