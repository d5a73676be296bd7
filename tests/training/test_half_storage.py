"""Tests for defocus_cli/training/half_storage.py: weights stored as float16, run in float32."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from defocus_cli.training.config import resolve_config
from defocus_cli.training.export import export_onnx, export_run
from defocus_cli.training.half_storage import SUFFIX, float32_weights, store_weights_as_float16
from defocus_cli.training.loop import train
from defocus_cli.training.systems import get_system
from defocus_cli.training.warm_start import warm_start

ort = pytest.importorskip("onnxruntime")


def _matmul_model(weight: np.ndarray, bias: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, weight.shape[0]])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, weight.shape[1]])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


def test_large_weights_become_float16_and_the_graph_still_computes_in_float32():
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(64, 32)).astype(np.float32), rng.normal(size=32).astype(np.float32)
    model = _matmul_model(weight, bias)
    x = rng.normal(size=(1, 64)).astype(np.float32)
    before, size_before = _run(model, x), len(model.SerializeToString())
    assert store_weights_as_float16(model, min_elements=1024) == 1  # 2048 values; the 32-value bias stays
    stored = {t.name: t.data_type for t in model.graph.initializer}
    assert stored == {"w" + SUFFIX: onnx.TensorProto.FLOAT16, "b": onnx.TensorProto.FLOAT}
    assert len(model.SerializeToString()) < 0.6 * size_before
    after = _run(model, x)
    assert after.dtype == np.float32
    # the product of float16-rounded weights: within their rounding, not bit-equal
    np.testing.assert_allclose(after, x @ weight.astype(np.float16).astype(np.float32) + bias, rtol=1e-5, atol=1e-5)
    assert 0 < np.abs(after - before).max() < 1e-2 * np.abs(before).max()


def test_float32_weights_reads_the_rounded_weights_back_under_their_own_names():
    rng = np.random.default_rng(1)
    weight, bias = rng.normal(size=(64, 32)).astype(np.float32), rng.normal(size=32).astype(np.float32)
    model = _matmul_model(weight, bias)
    store_weights_as_float16(model, min_elements=1024)
    arrays = float32_weights(model)
    assert set(arrays) == {"w", "b"} and arrays["w"].dtype == np.float32
    np.testing.assert_array_equal(arrays["w"], weight.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(arrays["b"], bias)


def test_weights_beyond_float16_range_stay_float32():
    weight = np.full((64, 32), 1e6, np.float32)
    model = _matmul_model(weight, np.zeros(32, np.float32))
    assert store_weights_as_float16(model, min_elements=1) == 1  # only the bias: 1e6 would round to inf
    assert {t.name for t in model.graph.initializer} == {"w", "b" + SUFFIX}


def _dmenet(seed: int):
    torch.manual_seed(seed)
    return get_system("dmenet")(resolve_config("dmenet", width="tiny")).eval()


def test_a_float16_export_is_checked_and_seeds_a_warm_start_that_reproduces_it(tmp_path):
    source = _dmenet(1)
    full, half = tmp_path / "full.onnx", tmp_path / "half.onnx"
    export_onnx(source, full)
    worst = export_onnx(source, half, float16_weights=True)
    assert 0 < worst < 1e-2
    assert half.stat().st_size < 0.8 * full.stat().st_size  # tiny width: many weights under MIN_ELEMENTS
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in onnx.load(str(half)).graph.initializer)
    fresh = _dmenet(2)
    copied, _ = warm_start(fresh, half)  # raises unless the loaded network reproduces the file
    assert copied > 0


def test_export_run_records_float16_storage_on_the_card_and_in_the_file(tmp_path):
    run = tmp_path / "run"
    train("dmenet", run, width="tiny", overrides={"train": {"steps": 1, "num_workers": 0, "val_every": 1},
                                                 "data": {"val_samples": 1}})
    spec = export_run(run, tmp_path / "d.onnx", float16_weights=True)
    assert spec.extra["parity_max_abs_diff"] < 1e-2
    assert "stored as float16" in (tmp_path / "d.md").read_text()
    metadata = {p.key: p.value for p in onnx.load(str(tmp_path / "d.onnx")).metadata_props}
    assert metadata["defocus.weights_dtype"] == '"float16"'
