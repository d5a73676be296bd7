"""Tests for defocus_cli/training/export.py: ONNX parity, dynamic sizes, ModelSpec and card."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from defocus_cli.errors import DefocusError, UsageError
from defocus_cli.models.registry import read_manifest
from defocus_cli.training.export import (
    STACK_TRACE_KEY,
    average_network_weights,
    check_parity,
    export_run,
    load_trained_system,
    strip_stack_traces,
)
from defocus_cli.training.loop import train

FAST = {"train": {"steps": 2, "num_workers": 0, "val_every": 2}, "data": {"val_samples": 2}}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    run = root / "run"
    train("magnify", run, width="tiny", overrides=FAST)
    manifest = root / "weights" / "manifest.json"
    spec = export_run(run, root / "weights" / "magnify-tiny.onnx", name="magnify-tiny", manifest=manifest)
    return root, run, spec, manifest


def test_export_writes_single_file_with_dynamic_sides(exported):
    root, run, spec, _ = exported
    path = root / "weights" / "magnify-tiny.onnx"
    model = onnx.load(str(path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert not list(root.glob("weights/*.data"))  # weights are inside the file
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert isinstance(dims[2], str) and isinstance(dims[3], str)
    assert spec.extra["parity_max_abs_diff"] < 1e-4
    # a third, non-square size that export never saw: onnxruntime still matches torch
    system, _ = load_trained_system(run)
    module = system.inference_module()
    torch.manual_seed(5)
    image, focus, m = torch.rand(1, 3, 36, 52), torch.rand(1, 1, 36, 52), torch.full((1, 1), 3.0)
    with torch.no_grad():
        expected = module(image, focus, m).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"image": image.numpy(), "focus": focus.numpy(), "m": m.numpy()})[0]
    assert np.abs(got - expected).max() < 1e-4


def test_export_carries_no_build_paths(exported):
    # The exporter records the Python stack behind each node, with absolute source paths;
    # a file that ships must not carry the exporting machine's paths.
    root, _, _, _ = exported
    model = onnx.load(str(root / "weights" / "magnify-tiny.onnx"))
    keys = {entry.key for node in model.graph.node for entry in node.metadata_props}
    assert STACK_TRACE_KEY not in keys
    assert __file__.rsplit("/tests/", 1)[0] not in model.SerializeToString().decode("latin-1")


def test_strip_stack_traces_keeps_other_metadata_and_the_graph():
    node = onnx.helper.make_node("Relu", ["x"], ["y"])
    for key, value in ((STACK_TRACE_KEY, 'File "/somewhere/net.py", line 3'), ("namespace", "net")):
        entry = node.metadata_props.add()
        entry.key, entry.value = key, value
    value_info = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "g", [value_info("x", onnx.TensorProto.FLOAT, [2])],
                                   [value_info("y", onnx.TensorProto.FLOAT, [2])])
    model = onnx.helper.make_model(graph)
    assert strip_stack_traces(model) == 1 and strip_stack_traces(model) == 0
    assert [(e.key, e.value) for e in model.graph.node[0].metadata_props] == [("namespace", "net")]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"x": np.array([-1.0, 2.0], np.float32)})[0], [0.0, 2.0])


def test_export_spec_manifest_and_card(exported):
    root, _, spec, manifest = exported
    assert spec.task == "magnify" and spec.stride == 4 and spec.file == "magnify-tiny.onnx"
    assert [t.name for t in spec.inputs] == ["image", "focus", "m"]
    entries = read_manifest(manifest)
    assert [e.name for e in entries] == ["magnify-tiny"] and entries[0].sha256 == spec.sha256
    saved = json.loads((root / "weights" / "magnify-tiny.spec.json").read_text())
    assert saved["sha256"] == spec.sha256
    card = (root / "weights" / "magnify-tiny.md").read_text()
    for needle in ("substitute: multi-scale L1 + SSIM", "steps: 2", "psnr", "hardware", "loss config"):
        assert needle in card, needle


def test_parity_check_refuses_a_mismatch(exported):
    root, run, _, _ = exported
    system, _ = load_trained_system(run)
    module = system.inference_module()
    with torch.no_grad():
        module.generator.tail[-2].bias.add_(0.01)  # torch now differs from the file
    with pytest.raises(DefocusError, match="export check failed"):
        check_parity(module, root / "weights" / "magnify-tiny.onnx", system.export_contract(), ((32, 32),))


def test_export_refuses_bad_targets(exported, tmp_path):
    _, run, _, _ = exported
    with pytest.raises(UsageError, match=".onnx"):
        export_run(run, tmp_path / "model.bin")
    with pytest.raises(UsageError, match="not a training run"):
        export_run(tmp_path, tmp_path / "m.onnx")


def test_eval_runs_the_onnx_file_through_onnxruntime(exported, monkeypatch):
    from defocus_cli.training import evaluate as module
    from defocus_cli.training.evaluate import evaluate

    full_size = module.real_photo_magnify_table
    monkeypatch.setattr(module, "real_photo_magnify_table",
                        lambda methods, progress=None: full_size(methods, long_side=64, progress=progress))
    root, _, _, _ = exported
    table, per_m, real_photo = evaluate("magnify", root / "weights" / "magnify-tiny.onnx", size=(32, 40), count=3)
    text = table.render()
    assert "Seed 000 Table 1" in text and "onnxruntime" in text and "Identity" in text
    assert table.columns[1:] == ["Train PSNR (dB)", "Train SSIM", "Test PSNR (dB)", "Test SSIM"]
    identity = table.rows[0]
    assert 10 < identity[3] <= 100 and 0 < identity[4] <= 1
    # Per m: the bare network and the shipped pipelines, with the in-focus PSNR column.
    methods = [row[0] for row in per_m.rows]
    assert methods[:2] == ["Identity (output = input)", "Network alone, whole image"]
    assert "magnify --method gan (classical map)" in methods and "magnify --method map (classical map)" in methods
    assert per_m.columns[1:4] == ["m=2 PSNR", "m=2 SSIM", "m=2 in-focus PSNR"]
    assert all(10 < row[1] <= 100 for row in per_m.rows)
    # The default split adds the same rows on renders of the Middlebury photo.
    assert "real photo" in real_photo.title and [row[0] for row in real_photo.rows] == methods


def test_predictor_pads_to_the_stride_the_export_records(exported):
    from defocus_cli.training.evaluate import Predictor

    root, _, spec, _ = exported
    predictor = Predictor.load(root / "weights" / "magnify-tiny.onnx", stride=64)
    assert predictor.metadata["stride"] == spec.stride == 4
    rng = np.random.default_rng(0)
    out = predictor({"image": rng.random((37, 53, 3), np.float32), "focus": rng.random((37, 53, 1), np.float32),
                     "m": np.array([2.0], np.float32)})
    assert out.shape == (37, 53, 3)


def test_export_records_a_working_resolution(exported, tmp_path):
    _, run, _, _ = exported
    spec = export_run(run, tmp_path / "m.onnx", name="magnify-small", working_resolution=256)
    assert spec.working_resolution == 256
    assert json.loads((tmp_path / "m.spec.json").read_text())["working_resolution"] == 256
    assert "long side of 256 px" in (tmp_path / "m.md").read_text()
    with pytest.raises(UsageError, match="working resolution"):
        export_run(run, tmp_path / "n.onnx", working_resolution=0)


def test_export_records_the_view_shifts_the_pipeline_should_average(exported, tmp_path):
    _, run, _, _ = exported
    spec = export_run(run, tmp_path / "v.onnx", view_shifts_px=[4, 4, 0])
    assert spec.extra["view_shifts_px"] == [0, 4]
    assert json.loads((tmp_path / "v.spec.json").read_text())["extra"]["view_shifts_px"] == [0, 4]
    metadata = {p.key: p.value for p in onnx.load(str(tmp_path / "v.onnx")).metadata_props}
    assert json.loads(metadata["defocus.view_shifts_px"]) == [0, 4]
    with pytest.raises(UsageError, match="--view-shift"):
        export_run(run, tmp_path / "w.onnx", view_shifts_px=[-2])
    assert not (tmp_path / "w.onnx").exists()


def test_export_averages_the_weights_of_runs_of_one_system(exported, tmp_path):
    root, run, _, _ = exported
    other = tmp_path / "other"
    train("magnify", other, width="tiny", overrides={**FAST, "train": {**FAST["train"], "seed": 7}})
    other_checkpoint = other / "checkpoints" / "last.pt"
    first, _ = load_trained_system(run)
    second, _ = load_trained_system(other)
    mean, state = load_trained_system(run, average_with=[other_checkpoint])
    assert not all(torch.equal(a, b) for a, b in zip(first.state_dict()["networks"].values(),
                                                      second.state_dict()["networks"].values(), strict=True))
    for (name, a), b, m in zip(first.state_dict()["networks"].items(), second.state_dict()["networks"].values(),
                               mean.state_dict()["networks"].values(), strict=True):
        if a.is_floating_point():
            torch.testing.assert_close(m, (a + b) / 2, msg=name)
    assert state["averaged_with"] == ["other/checkpoints/last.pt"]
    spec = export_run(run, tmp_path / "soup.onnx", name="soup", average_with=[other_checkpoint])
    assert spec.extra["parity_max_abs_diff"] < 1e-4
    assert "the element-wise mean of this run's checkpoint and other/checkpoints/last.pt" in (
        tmp_path / "soup.md").read_text()


def test_averaging_refuses_weights_of_another_shape():
    a = {"w": torch.ones(2, 3), "n": torch.tensor(5)}
    averaged = average_network_weights([a, {"w": torch.zeros(2, 3), "n": torch.tensor(9)}])
    torch.testing.assert_close(averaged["w"], torch.full((2, 3), 0.5))
    assert int(averaged["n"]) == 5  # counters come from the first
    with pytest.raises(UsageError, match="same system and width"):
        average_network_weights([a, {"w": torch.ones(3, 3), "n": torch.tensor(5)}])
    with pytest.raises(UsageError, match="same system and width"):
        average_network_weights([a, {"v": torch.ones(2, 3), "n": torch.tensor(5)}])


def test_export_part_writes_the_jointly_trained_refocus_network(tmp_path):
    from defocus_cli.training.config import resolve_config
    from defocus_cli.training.export import export_onnx
    from defocus_cli.training.systems import get_system

    g2 = get_system("refocus")(resolve_config("refocus", "tiny", {"model": {"use_gan": False}}))
    g2_path = tmp_path / "g2.onnx"
    export_onnx(g2, g2_path, sizes=((32, 32),))
    run = tmp_path / "joint"
    train("deblur", run, width="tiny", overrides={**FAST, "data": {"val_samples": 2, "crop": [32, 32]},
                                                  "model": {"refocus_model": str(g2_path), "refocus_trainable": True}})
    g1 = export_run(run, tmp_path / "g1.onnx")
    part = export_run(run, tmp_path / "g2-joint.onnx", part="refocus", deblur_model="g1-joint")
    assert (g1.task, part.task) == ("deblur", "refocus")
    assert part.extra["deblur_model"] == "g1-joint" and "deblur_model" not in g1.extra
    with pytest.raises(UsageError, match="pairs a two-stage refocus model"):
        export_run(run, tmp_path / "g1-again.onnx", deblur_model="g1-joint")
    assert [t.name for t in part.inputs] == ["image", "radiance", "delta"]
    card = (tmp_path / "g2-joint.md").read_text(encoding="utf-8")
    assert "`refocus` of the run" in card and "jointly with a deblur G1" in card and "focus channel" not in card
    assert "## Resolved config (the run's; this network is its `refocus` part)" in card and "system: deblur" in card
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(g2_path)).graph.initializer}
    trained = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "g2-joint.onnx")).graph.initializer}
    assert any(not np.array_equal(weights[k], trained[k]) for k in weights.keys() & trained.keys())  # G2 moved
    with pytest.raises(UsageError, match="no part 'depth'"):
        export_run(run, tmp_path / "x.onnx", part="depth")


def _magnify_output(path, seed=0):
    from defocus_cli.training.evaluate import Predictor

    rng = np.random.default_rng(seed)
    return Predictor.load(path)({"image": rng.random((32, 40, 3), np.float32),
                                 "focus": rng.random((32, 40, 1), np.float32), "m": np.array([3.0], np.float32)})


def test_export_ensemble_returns_the_mean_of_its_members_outputs(exported, tmp_path):
    _, run, _, _ = exported
    other = tmp_path / "other"
    train("magnify", other, width="tiny", overrides={**FAST, "train": {**FAST["train"], "seed": 7}})
    export_run(run, tmp_path / "a.onnx")
    export_run(other, tmp_path / "b.onnx")
    a, b = _magnify_output(tmp_path / "a.onnx"), _magnify_output(tmp_path / "b.onnx")
    assert np.abs(a - b).max() > 1e-3  # two different networks
    # A member as an export (loaded back and checked) or as a run folder: the same graph.
    from_file = export_run(run, tmp_path / "e.onnx", ensemble_with=[tmp_path / "b.onnx"])
    export_run(run, tmp_path / "e2.onnx", ensemble_with=[other])
    assert from_file.extra["parity_max_abs_diff"] < 1e-4
    np.testing.assert_allclose(_magnify_output(tmp_path / "e.onnx"), (a + b) / 2, atol=1e-4)
    np.testing.assert_allclose(_magnify_output(tmp_path / "e2.onnx"), (a + b) / 2, atol=1e-4)
    assert "returns the mean of each output" in (tmp_path / "e.md").read_text()


def test_an_exported_ensemble_joins_another_as_its_networks(exported, tmp_path):
    # A run added to a two-network ensemble file: three networks weighed alike, not the
    # run against the pair's mean.
    _, run, _, _ = exported
    others = []
    for seed in (7, 8):
        other = tmp_path / f"other{seed}"
        train("magnify", other, width="tiny", overrides={**FAST, "train": {**FAST["train"], "seed": seed}})
        others.append(other)
    export_run(run, tmp_path / "a.onnx")
    export_run(others[0], tmp_path / "b.onnx")
    export_run(others[1], tmp_path / "c.onnx")
    export_run(others[0], tmp_path / "bc.onnx", ensemble_with=[others[1]])
    a, b, c = (_magnify_output(tmp_path / f"{n}.onnx") for n in "abc")
    spec = export_run(run, tmp_path / "abc.onnx", ensemble_with=[tmp_path / "bc.onnx"])
    assert spec.extra["parity_max_abs_diff"] < 1e-4
    np.testing.assert_allclose(_magnify_output(tmp_path / "abc.onnx"), (a + b + c) / 3, atol=1e-4)
    # A file whose networks cannot be rebuilt from its weights is refused like a single
    # export: one convolution's weight renamed, so the rebuilt member keeps a fresh one.
    bad = onnx.load(str(tmp_path / "bc.onnx"))
    weight = next(t for t in bad.graph.initializer if t.name.startswith("members.1.") and len(t.dims) == 4)
    old_name, weight.name = weight.name, "renamed_weight"
    for node in bad.graph.node:
        node.input[:] = ["renamed_weight" if name == old_name else name for name in node.input]
    onnx.save(bad, str(tmp_path / "bad.onnx"))
    with pytest.raises(UsageError, match="does not reproduce"):
        export_run(run, tmp_path / "x.onnx", ensemble_with=[tmp_path / "bad.onnx"])


def test_export_ensemble_refuses_members_of_another_kind(exported, tmp_path):
    _, run, _, _ = exported
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(UsageError, match="--ensemble-with .*expected an exported .onnx"):
        export_run(run, tmp_path / "e.onnx", ensemble_with=[tmp_path / "notes.txt"])
    dmenet_run = tmp_path / "dmenet-run"
    dmenet_run.mkdir()
    (dmenet_run / "config.yaml").write_text("system: dmenet\nwidth: tiny\n")
    with pytest.raises(UsageError, match="tiny-width dmenet run, not a tiny-width magnify run"):
        export_run(run, tmp_path / "e.onnx", ensemble_with=[dmenet_run])
    with pytest.raises(UsageError, match="does not combine with --part"):
        export_run(run, tmp_path / "e.onnx", ensemble_with=[run], part="refocus")
    assert not (tmp_path / "e.onnx").exists()
