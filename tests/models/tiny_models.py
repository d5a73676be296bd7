"""Tiny ONNX models built with onnx.helper for tests (a few hundred bytes each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(graph: onnx.GraphProto, path: Path | None) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime the extras allow
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def conv_model(
    path: Path | None = None,
    *,
    in_channels: int = 3,
    out_channels: int = 3,
    kernel: int = 3,
    layers: int = 1,
    input_name: str = "image",
    output_name: str = "output",
    seed: int = 0,
) -> bytes:
    """``layers`` zero-padded ``kernel``x``kernel`` convolutions (NCHW, dynamic N/H/W)."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    current, channels = input_name, in_channels
    for i in range(layers):
        out_c = out_channels if i == layers - 1 else in_channels
        weight = (rng.standard_normal((out_c, channels, kernel, kernel)) / kernel**2).astype(
            np.float32
        )
        bias = (0.01 * rng.standard_normal(out_c)).astype(np.float32)
        inits += [numpy_helper.from_array(weight, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
        name = output_name if i == layers - 1 else f"h{i}"
        pad = kernel // 2
        nodes.append(helper.make_node("Conv", [current, f"w{i}", f"b{i}"], [name], pads=[pad] * 4))
        current, channels = name, out_c
    graph = helper.make_graph(
        nodes,
        "tiny_conv",
        [
            helper.make_tensor_value_info(
                input_name, TensorProto.FLOAT, ["N", in_channels, "H", "W"]
            )
        ],
        [
            helper.make_tensor_value_info(
                output_name, TensorProto.FLOAT, ["N", out_channels, "H", "W"]
            )
        ],
        inits,
    )
    return _save(graph, path)


def identity_model(
    path: Path | None = None,
    *,
    channels: int = 3,
    input_name: str = "image",
    output_name: str = "output",
    rank: int = 4,
) -> bytes:
    """``Identity`` with a fixed channel count and dynamic other axes."""
    shape: list[int | str] = ["N", channels, "H", "W"] if rank == 4 else ["N", "H", "W"][:rank]
    graph = helper.make_graph(
        [helper.make_node("Identity", [input_name], [output_name])],
        "tiny_identity",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, shape)],
    )
    return _save(graph, path)


def depth_standin_model(path: Path | None = None) -> bytes:
    """Same I/O as the Depth Anything V2 ONNX export: ``pixel_values`` N3HW -> ``predicted_depth``
    NHW (here the channel mean)."""
    graph = helper.make_graph(
        [
            helper.make_node(
                "ReduceMean", ["pixel_values"], ["predicted_depth"], axes=[1], keepdims=0
            )
        ],
        "depth_standin",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("predicted_depth", TensorProto.FLOAT, ["N", "H", "W"])],
    )
    return _save(graph, path)
