"""Tiny stand-ins with the I/O of the RefocusGAN exports (``training/systems/refocus.py``) and
a helper that installs them as bundled weights (a ``DEFOCUS_WEIGHTS_DIR`` with a manifest).

Each graph passes the image through SpaceToDepth/DepthToSpace with block 4, so onnxruntime
refuses sides that are not multiples of 4, as the real exports do. What they compute is
simple enough for tests to predict exactly (``box`` = 3x3 mean, zero-padded, applied
``blur_layers`` times, so the receptive radius is ``blur_layers`` px):

- deblur G1 (``image``, ``sml`` -> ``output``): ``image + sml * (image - box(image))``, an
  unsharp mask where the focus measure says there is detail;
- two-stage refocus G2 (``image``, ``radiance``, ``delta`` Nx1 -> ``output``):
  ``image + delta / 9 * (radiance - image)``;
- single-stage refocus (``image``, ``delta`` -> ``output``): ``image + delta / 9 * (box(image) - image)``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from defocus_cli.cli.model_options import LoadedModel
from defocus_cli.models.registry import ModelSpec, TensorSpec, spec_to_dict
from defocus_cli.models.resolve import ResolvedModel
from defocus_cli.models.session import create_session
from tests.models.tiny_models import _save

DELTAS = [-9, -5, 5, 9]


def _image(name: str, channels: int = 3) -> Any:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", channels, "H", "W"])


def _checked(name: str) -> list[Any]:
    return [helper.make_node("SpaceToDepth", [name], [f"{name}_s2d"], blocksize=4),
            helper.make_node("DepthToSpace", [f"{name}_s2d"], [f"{name}_ok"], blocksize=4, mode="DCR")]


def _box(source: str, out: str, layers: int) -> list[Any]:
    nodes, current = [], source
    for i in range(layers):
        name = out if i == layers - 1 else f"{out}_{i}"
        nodes.append(helper.make_node("Conv", [current, "box_w"], [name], pads=[1, 1, 1, 1], group=3))
        current = name
    return nodes


def _box_weight() -> Any:
    return numpy_helper.from_array(np.full((3, 1, 3, 3), 1 / 9, np.float32), "box_w")


def _delta_scale() -> list[Any]:
    """``delta`` Nx1 -> ``t`` Nx1x1x1 = delta / 9."""
    return [helper.make_node("Unsqueeze", ["delta", "axes23"], ["delta4"]),
            helper.make_node("Mul", ["delta4", "ninth"], ["t"])]


def _delta_constants() -> list[Any]:
    return [numpy_helper.from_array(np.array([2, 3], np.int64), "axes23"),
            numpy_helper.from_array(np.array(1 / 9, np.float32), "ninth")]


def deblur_standin(path: Path | None = None, blur_layers: int = 1) -> bytes:
    nodes = _checked("image") + _box("image_ok", "blur", blur_layers) + [
        helper.make_node("Sub", ["image_ok", "blur"], ["detail"]),
        helper.make_node("Mul", ["detail", "sml"], ["gated"]),
        helper.make_node("Add", ["image_ok", "gated"], ["output"]),
    ]
    graph = helper.make_graph(nodes, "deblur_standin", [_image("image"), _image("sml", 1)], [_image("output")],
                              [_box_weight()])
    return _save(graph, path)


def refocus_standin(path: Path | None = None) -> bytes:
    nodes = _checked("image") + _delta_scale() + [
        helper.make_node("Sub", ["radiance", "image_ok"], ["change"]),
        helper.make_node("Mul", ["change", "t"], ["scaled"]),
        helper.make_node("Add", ["image_ok", "scaled"], ["output"]),
    ]
    delta = helper.make_tensor_value_info("delta", TensorProto.FLOAT, ["N", 1])
    graph = helper.make_graph(nodes, "refocus_standin", [_image("image"), _image("radiance"), delta],
                              [_image("output")], _delta_constants())
    return _save(graph, path)


def single_stage_standin(path: Path | None = None) -> bytes:
    nodes = _checked("image") + _box("image_ok", "blur", 1) + _delta_scale() + [
        helper.make_node("Sub", ["blur", "image_ok"], ["change"]),
        helper.make_node("Mul", ["change", "t"], ["scaled"]),
        helper.make_node("Add", ["image_ok", "scaled"], ["output"]),
    ]
    delta = helper.make_tensor_value_info("delta", TensorProto.FLOAT, ["N", 1])
    graph = helper.make_graph(nodes, "single_stage_standin", [_image("image"), delta], [_image("output")],
                              [_box_weight(), *_delta_constants()])
    return _save(graph, path)


def deblur_spec(sha256: str = "0" * 64) -> ModelSpec:
    """A bundled deblur spec as ``defocus export`` writes it."""
    return ModelSpec(name="deblur-test", task="deblur", file="deblur-test.onnx", sha256=sha256,
                     inputs=(TensorSpec("image"), TensorSpec("sml", "NCHW", 1)), outputs=(TensorSpec("output"),),
                     stride=4, licence="MIT", extra={"focus_channel": "defocus_cli.ops.focus.sml", "system": "deblur"})


def refocus_spec(sha256: str = "0" * 64, single_stage: bool = False, deblur_model: str | None = None) -> ModelSpec:
    """A bundled refocus spec (two-stage unless ``single_stage``) as ``defocus export`` writes it;
    ``deblur_model`` names the stage 1 it was trained with (``export --deblur-model``)."""
    image, delta = TensorSpec("image"), TensorSpec("delta", "NC", 1)
    inputs = (image, delta) if single_stage else (image, TensorSpec("radiance"), delta)
    return ModelSpec(name="refocus-test", task="refocus", file="refocus-test.onnx", sha256=sha256,
                     inputs=inputs, outputs=(TensorSpec("output"),), stride=4, licence="MIT",
                     extra={"stages": 1 if single_stage else 2, "deltas": DELTAS, "system": "refocus",
                            "radiance_from": None if single_stage else "deblur", "focal_stack_slices": 10,
                            **({"deblur_model": deblur_model} if deblur_model else {})})


#: The second deblur stand-in :func:`install_refocus` can add: two box layers instead of one.
PAIRED_DEBLUR = "deblur-paired"


def install_refocus(folder: Path, *, deblur: bool = True, refocus: bool = True, single_stage: bool = False,
                    paired: str | None = None) -> Path:
    """Write the stand-ins and a manifest naming them into ``folder`` (a weights folder).
    ``paired``: the refocus stand-in names this deblur model as its stage 1; when it is
    :data:`PAIRED_DEBLUR`, that model is installed too (after the default one)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    if deblur:
        data = deblur_standin(folder / "deblur-test.onnx")
        entries.append(spec_to_dict(deblur_spec(hashlib.sha256(data).hexdigest())))
    if paired == PAIRED_DEBLUR:
        data = deblur_standin(folder / f"{PAIRED_DEBLUR}.onnx", blur_layers=2)
        spec = replace(deblur_spec(hashlib.sha256(data).hexdigest()), name=PAIRED_DEBLUR, file=f"{PAIRED_DEBLUR}.onnx")
        entries.append(spec_to_dict(spec))
    if refocus:
        make = single_stage_standin if single_stage else refocus_standin
        data = make(folder / "refocus-test.onnx")
        entries.append(spec_to_dict(refocus_spec(hashlib.sha256(data).hexdigest(), single_stage, paired)))
    (folder / "manifest.json").write_text(json.dumps(entries, indent=2))
    return folder


def box3(image: np.ndarray, layers: int = 1) -> np.ndarray:
    """What the stand-ins' ``box`` computes, in numpy (HxWx3, zero padding)."""
    out = np.asarray(image, np.float64)
    for _ in range(layers):
        padded = np.pad(out, ((1, 1), (1, 1), (0, 0)))
        out = sum(padded[i:i + out.shape[0], j:j + out.shape[1]] for i in range(3) for j in range(3)) / 9
    return out.astype(np.float32)


def load(folder: Path, make: Any, spec: ModelSpec, **options: Any) -> LoadedModel:
    """Build a stand-in with ``make`` into ``folder`` and open it as a pipeline network."""
    path = folder / f"{make.__name__}.onnx"
    digest = hashlib.sha256(make(path, **options)).hexdigest()
    resolved = ResolvedModel(path, spec, digest, "path", "sha256")
    return LoadedModel(resolved, create_session(resolved, device="cpu", threads=1))


class Counting:
    """A pipeline network that records the (height, width) of every call."""

    def __init__(self, net: LoadedModel) -> None:
        self.net = net
        self.sizes: list[tuple[int, ...]] = []

    @property
    def spec(self) -> ModelSpec:
        return self.net.spec

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.sizes.append(tuple(inputs["image"].shape[2:]))
        return self.net.run(inputs)
