"""Tests for defocus_cli/training/warm_start.py: a new run seeded from an exported model."""

from __future__ import annotations

import json

import pytest
import torch

from defocus_cli.cli.main import main
from defocus_cli.errors import UsageError
from defocus_cli.training.config import resolve_config
from defocus_cli.training.export import export_onnx
from defocus_cli.training.loop import train, validate
from defocus_cli.training.systems import get_system
from defocus_cli.training.warm_start import warm_start

pytest.importorskip("onnxruntime")


def _system(name: str, seed: int, **model):
    torch.manual_seed(seed)
    return get_system(name)(resolve_config(name, width="tiny", overrides={"model": model} if model else None)).eval()


def _outputs(system) -> torch.Tensor:
    torch.manual_seed(7)
    example = system.export_contract().example(64, 64)
    with torch.no_grad():
        return system.inference_module().eval()(*example)


@pytest.fixture(scope="module")
def dmenet_export(tmp_path_factory):
    source = _system("dmenet", seed=1)
    path = tmp_path_factory.mktemp("warm") / "dmenet-tiny.onnx"
    export_onnx(source, path)
    return source, path


def test_a_fresh_system_reproduces_the_export_it_starts_from(dmenet_export) -> None:
    source, path = dmenet_export
    fresh = _system("dmenet", seed=2)
    assert not torch.allclose(_outputs(fresh), _outputs(source))
    copied, missing = warm_start(fresh, path)
    # DMENet's auxiliary heads serve only its training loss, so the export lacks them
    assert copied > 0 and missing == sum(1 for k in fresh.inference_module().state_dict() if ".aux_heads." in k)
    torch.testing.assert_close(_outputs(fresh), _outputs(source), atol=1e-5, rtol=0)


def test_another_width_is_refused_with_the_tensor_named(dmenet_export) -> None:
    _, path = dmenet_export
    with pytest.raises(UsageError, match=r"is \(.*\) there but .* in this run"):
        warm_start(_system("dmenet", seed=0, width=8), path)


def test_another_system_is_refused(dmenet_export) -> None:
    _, path = dmenet_export
    with pytest.raises(UsageError, match="none of its weights belong to a deblur network"):
        warm_start(_system("deblur", seed=0), path)


def test_a_weight_stored_under_another_name_fails_the_output_check(dmenet_export, tmp_path) -> None:
    # As when an exporter folds a weight into another: the graph still uses it, but no
    # parameter of the run is named after it, so it cannot be copied.
    import onnx

    _, path = dmenet_export
    model = onnx.load(str(path))
    tensor = next(t for t in model.graph.initializer if t.name.endswith("features.0.weight"))
    old, tensor.name = tensor.name, "folded_weight"
    for node in model.graph.node:
        node.input[:] = ["folded_weight" if name == old else name for name in node.input]
    renamed = tmp_path / "renamed.onnx"
    onnx.save(model, str(renamed))
    with pytest.raises(UsageError, match="does not reproduce the model"):
        warm_start(_system("dmenet", seed=2), renamed)


def test_a_file_that_is_not_onnx_is_refused(tmp_path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(UsageError, match="not an ONNX model"):
        warm_start(_system("dmenet", seed=0), junk)
    with pytest.raises(UsageError, match="no such file"):
        warm_start(_system("dmenet", seed=0), tmp_path / "missing.onnx")


def test_a_run_started_with_init_from_validates_at_the_exports_score(dmenet_export, tmp_path) -> None:
    source, path = dmenet_export
    fast = {"train": {"steps": 1, "num_workers": 0, "val_every": 1, "lr": 1e-12, "init_from": str(path)},
            "data": {"val_samples": 2}}
    train("dmenet", tmp_path / "warm", width="tiny", overrides=fast)
    fast["train"].pop("init_from")
    train("dmenet", tmp_path / "cold", width="tiny", overrides=fast)

    def val(run):
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return next(r for r in rows if r.get("split") == "val")["mae_px"]

    config = resolve_config("dmenet", width="tiny", overrides=fast)
    expected = validate(source, source.make_dataset(config, "val"), config["train"]["batch_size"])["mae_px"]
    assert val(tmp_path / "warm") == pytest.approx(expected, abs=1e-4)
    assert val(tmp_path / "cold") != pytest.approx(expected, abs=1e-4)
    notes = json.loads((tmp_path / "warm" / "notes.json").read_text())
    assert "dmenet-tiny.onnx" in notes["init_from"]


def test_cli_init_and_resume_exclude_each_other(dmenet_export, tmp_path, capsys) -> None:
    _, path = dmenet_export
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "dmenet", "--out", str(tmp_path / "r"), "--init", str(path), "--resume"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--init starts a new run" in err and "Traceback" not in err


def test_folded_batchnorms_are_unfolded_and_a_head_trains_alone(tmp_path) -> None:
    # The exporter folds deeplens-depth's BatchNorms into their convolutions; a subject-head
    # run seeded from that file reproduces it, and training changes the subject map only.
    import onnx

    source = _system("deeplens-depth", seed=3)
    with torch.no_grad():  # BatchNorm statistics a fresh network does not have
        for module in source.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "depth-tiny.onnx"
    export_onnx(source, path)
    assert any(t.name.endswith(".weight_bias") for t in onnx.load(str(path)).graph.initializer)
    fresh = _system("deeplens-depth", seed=4, subject_head_only=True)
    copied, _ = warm_start(fresh, path)
    assert copied > 0
    depth_before, subject_before = _outputs(fresh)
    torch.testing.assert_close(depth_before, _outputs(source)[0], atol=1e-4, rtol=0)  # min-max scales rounding
    fresh.train()
    assert not fresh.net.encoder.training and fresh.net.seg_head.training
    from torch.utils.data import default_collate

    cfg = fresh.config
    dataset = type(fresh).make_dataset(cfg, "train")
    fresh.set_input(default_collate([dataset[i] for i in range(2)]))
    for step in range(3):
        fresh.optimize_parameters(step)
    depth_after, subject_after = _outputs(fresh)
    torch.testing.assert_close(depth_after, depth_before, atol=0, rtol=0)
    assert not torch.allclose(subject_after, subject_before)


def test_an_export_without_a_later_output_still_seeds_a_run(tmp_path) -> None:
    # Depth exports made before the subject output: the outputs the file has are compared.
    import onnx

    source = _system("deeplens-depth", seed=3)
    path = tmp_path / "depth-tiny.onnx"
    export_onnx(source, path)
    model = onnx.load(str(path))
    kept = [o for o in model.graph.output if o.name != "subject"]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    older = tmp_path / "depth-only.onnx"
    onnx.save(model, str(older))
    fresh = _system("deeplens-depth", seed=4)
    copied, _ = warm_start(fresh, older)
    assert copied > 0
    torch.testing.assert_close(_outputs(fresh)[0], _outputs(source)[0], atol=1e-4, rtol=0)
