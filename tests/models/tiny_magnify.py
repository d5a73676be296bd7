"""A tiny stand-in with the I/O of the exported magnify cGAN, and a helper that installs it
as bundled weights (a ``DEFOCUS_WEIGHTS_DIR`` with a manifest entry).

``(image N3HW, focus N1HW, m N1) -> output N3HW`` with
``output = image + (m - 1) / 3 * (box5(image) - image) * (1 - focus)``: a blur that grows
with m and fades where the focus channel is high, so tests can predict what changes. Like
the real export it refuses sides that are not multiples of its stride (4), through a
SpaceToDepth/DepthToSpace round trip.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from defocus_cli.models.registry import ModelSpec, TensorSpec, spec_to_dict
from tests.models.tiny_models import _save

STRIDE = 4
NAME = "magnify-test"


def magnify_standin(path: Path | None = None) -> bytes:
    """Build the stand-in graph (a few hundred bytes); write it to ``path`` when given."""
    box = np.full((3, 1, 5, 5), 1.0 / 25.0, np.float32)
    inits = [
        numpy_helper.from_array(box, "box"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(1.0 / 3.0, np.float32), "third"),
        numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "m_shape"),
    ]
    nodes = [
        helper.make_node("SpaceToDepth", ["image"], ["s2d"], blocksize=STRIDE),
        helper.make_node("DepthToSpace", ["s2d"], ["checked"], blocksize=STRIDE, mode="DCR"),
        helper.make_node("Conv", ["checked", "box"], ["blurred"], group=3, pads=[2, 2, 2, 2]),
        helper.make_node("Sub", ["blurred", "checked"], ["detail"]),
        helper.make_node("Reshape", ["m", "m_shape"], ["m4"]),
        helper.make_node("Sub", ["m4", "one"], ["m_minus_1"]),
        helper.make_node("Mul", ["m_minus_1", "third"], ["gain"]),
        helper.make_node("Sub", ["one", "focus"], ["unfocused"]),
        helper.make_node("Mul", ["detail", "gain"], ["scaled"]),
        helper.make_node("Mul", ["scaled", "unfocused"], ["residual"]),
        helper.make_node("Add", ["checked", "residual"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "magnify_standin",
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"]),
            helper.make_tensor_value_info("focus", TensorProto.FLOAT, ["N", 1, "H", "W"]),
            helper.make_tensor_value_info("m", TensorProto.FLOAT, ["N", 1]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        inits,
    )
    return _save(graph, path)


def install_magnify(folder: Path) -> Path:
    """Write the stand-in and its manifest entry (as ``defocus export`` would) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = magnify_standin(folder / "magnify-test.onnx")
    spec = ModelSpec(
        name=NAME, task="magnify", file="magnify-test.onnx", sha256=hashlib.sha256(data).hexdigest(),
        inputs=(TensorSpec("image", "NCHW", 3), TensorSpec("focus", "NCHW", 1), TensorSpec("m", "NC", 1)),
        outputs=(TensorSpec("output", "NCHW", 3),), stride=STRIDE, licence="MIT",
        description="test stand-in for the magnify cGAN",
        extra={"focus_channel": "defocus_cli.ops.focus.composite_focus_measure", "m_range": [1.0, 4.0]},
    )
    (folder / "manifest.json").write_text(json.dumps([spec_to_dict(spec)], indent=2) + "\n", encoding="utf-8")
    return folder
