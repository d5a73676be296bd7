"""A tiny stand-in with the I/O of the exported DMENet blur network B, and a helper that
installs it as bundled weights (a ``DEFOCUS_WEIGHTS_DIR`` with a manifest entry).

``image`` N3HW -> ``coc_radius_px`` N1HW = ``RADIUS_PER_UNIT`` x the channel mean: a radius
in px of its input that tests can predict exactly. Like the real export it refuses sides
that are not multiples of its stride (16), through a SpaceToDepth/DepthToSpace round trip.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from defocus_cli.models.registry import ModelSpec, TensorSpec, spec_to_dict
from tests.models.tiny_models import _save

STRIDE = 16
NAME = "dmenet-test"
RADIUS_PER_UNIT = 8.0
TRAINED_MAX_PX = 10.0


def dmenet_standin(path: Path | None = None) -> bytes:
    """Build the stand-in graph (a few hundred bytes); write it to ``path`` when given."""
    nodes = [
        helper.make_node("SpaceToDepth", ["image"], ["s2d"], blocksize=STRIDE),
        helper.make_node("DepthToSpace", ["s2d"], ["checked"], blocksize=STRIDE, mode="DCR"),
        helper.make_node("ReduceMean", ["checked"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["mean", "gain"], ["coc_radius_px"]),
    ]
    graph = helper.make_graph(
        nodes, "dmenet_standin",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("coc_radius_px", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [numpy_helper.from_array(np.array(RADIUS_PER_UNIT, np.float32), "gain")],
    )
    return _save(graph, path)


def dmenet_spec(sha256: str = "0" * 64) -> ModelSpec:
    """The spec ``defocus export`` writes for a DMENet run."""
    return ModelSpec(
        name=NAME, task="defocus-map", file="dmenet-test.onnx", sha256=sha256,
        inputs=(TensorSpec("image", "NCHW", 3),), outputs=(TensorSpec("coc_radius_px", "NCHW", 1),),
        preprocessing="srgb01", stride=STRIDE, licence="MIT", description="test stand-in for DMENet B",
        extra={"units": "CoC radius in px of the input image (disc PSF); DMENet sigma = radius / 2",
               "training_max_coc_radius_px": TRAINED_MAX_PX, "system": "dmenet"},
    )


def install_dmenet(folder: Path) -> Path:
    """Write the stand-in and its manifest entry into ``folder`` (a weights folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = dmenet_standin(folder / "dmenet-test.onnx")
    spec = dmenet_spec(hashlib.sha256(data).hexdigest())
    (folder / "manifest.json").write_text(json.dumps([spec_to_dict(spec)], indent=2) + "\n", encoding="utf-8")
    return folder
