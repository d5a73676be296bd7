"""Tiny stand-ins with the I/O of the DeepLens exports and of Depth Anything V2, and a helper
that installs them as bundled weights (a ``DEFOCUS_WEIGHTS_DIR`` with a manifest).

Each graph passes its input through SpaceToDepth/DepthToSpace with the network's stride as
block size, so onnxruntime refuses sides that are not multiples of the stride, just as the
real exports do. What they compute is simple enough for tests to predict exactly:

- DeepLens depth (``image`` N3HW -> ``depth`` N1HW, ``subject`` N1HW): the channel mean of
  the image, and its blue channel as the subject probability;
- Depth Anything (``pixel_values`` N3HW -> ``predicted_depth`` NHW): the first channel (red,
  ImageNet-normalized), so brighter red = nearer;
- DeepLens lens blur (``image``, ``signed_depth`` -> ``output``): ``image * (1 - a) + 0.5 a``
  with ``a = min(|signed_depth|, 1)``: unchanged in focus, greyer the larger the blur.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from defocus_cli.models.registry import ModelSpec, TensorSpec
from tests.models.tiny_models import _save

DEPTH_UNITS = "normalized inverse depth in [0, 1], 1 = nearest (per-image min-max)"
MAX_BLUR_RADIUS_PX = 10.0


def _stride_check(name: str, out: str, stride: int) -> list[Any]:
    return [
        helper.make_node("SpaceToDepth", [name], [f"{out}_s2d"], blocksize=stride),
        helper.make_node("DepthToSpace", [f"{out}_s2d"], [out], blocksize=stride, mode="DCR"),
    ]


def deeplens_depth_standin(path: Path | None = None, *, subject: bool = True) -> bytes:
    """``image`` N3HW (sides multiples of 8) -> ``depth`` N1HW = channel mean, and (unless
    ``subject`` is False, as in exports before the subject output) ``subject`` N1HW = blue."""
    nodes = _stride_check("image", "checked", 8)
    nodes.append(helper.make_node("ReduceMean", ["checked"], ["depth"], axes=[1], keepdims=1))
    outputs = [helper.make_tensor_value_info("depth", TensorProto.FLOAT, ["N", 1, "H", "W"])]
    initializers = []
    if subject:
        initializers = [numpy_helper.from_array(np.array([v], np.int64), n)
                        for v, n in ((2, "blue_start"), (3, "blue_end"), (1, "channel_axis"))]
        nodes.append(helper.make_node("Slice", ["checked", "blue_start", "blue_end", "channel_axis"], ["subject"]))
        outputs.append(helper.make_tensor_value_info("subject", TensorProto.FLOAT, ["N", 1, "H", "W"]))
    graph = helper.make_graph(
        nodes, "deeplens_depth_standin",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])], outputs, initializers,
    )
    return _save(graph, path)


def expected_deeplens_depth(image: np.ndarray) -> np.ndarray:
    """What ``predict_depth`` makes of :func:`deeplens_depth_standin`'s output for a photo no
    larger than the working resolution: the channel mean (the same for every view), smoothed
    along the photo's edges as a DeepLens graph's map is, min-max normalized."""
    from defocus_cli.ops.edge_aware import domain_transform_smooth
    from defocus_cli.pipelines.depth import EDGE_AWARE_SIGMA_FRACTION, EDGE_AWARE_SIGMA_RANGE

    image = np.asarray(image, np.float32)
    smoothed = domain_transform_smooth(image.mean(axis=2), image, EDGE_AWARE_SIGMA_FRACTION * max(image.shape[:2]),
                                       EDGE_AWARE_SIGMA_RANGE)
    return (smoothed - smoothed.min()) / (smoothed.max() - smoothed.min())


def depth_anything_standin(path: Path | None = None) -> bytes:
    """``pixel_values`` N3HW (sides multiples of 14) -> ``predicted_depth`` NHW = channel 0."""
    nodes = _stride_check("pixel_values", "checked", 14)
    starts, ends, axes = (numpy_helper.from_array(np.array([v], np.int64), n)
                          for v, n in ((0, "starts"), (1, "ends"), (1, "axes")))
    nodes += [
        helper.make_node("Slice", ["checked", "starts", "ends", "axes"], ["red"]),
        helper.make_node("Squeeze", ["red", "axes"], ["predicted_depth"]),
    ]
    graph = helper.make_graph(
        nodes, "depth_anything_standin",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("predicted_depth", TensorProto.FLOAT, ["N", "H", "W"])],
        [starts, ends, axes],
    )
    return _save(graph, path)


def lens_blur_standin(path: Path | None = None) -> bytes:
    """(``image`` N3HW, ``signed_depth`` N1HW; sides multiples of 4) -> ``output`` N3HW."""
    one, half = (numpy_helper.from_array(np.array(v, np.float32), n) for v, n in ((1.0, "one"), (0.5, "half")))
    nodes = _stride_check("image", "checked", 4) + [
        helper.make_node("Abs", ["signed_depth"], ["abs"]),
        helper.make_node("Min", ["abs", "one"], ["a"]),
        helper.make_node("Sub", ["one", "a"], ["keep"]),
        helper.make_node("Mul", ["checked", "keep"], ["kept"]),
        helper.make_node("Mul", ["a", "half"], ["grey"]),
        helper.make_node("Add", ["kept", "grey"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "lens_blur_standin",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"]),
         helper.make_tensor_value_info("signed_depth", TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [one, half],
    )
    return _save(graph, path)


def depth_spec(file: str = "deeplens-depth-test.onnx", sha256: str = "0" * 64, **extra: Any) -> ModelSpec:
    """A bundled deeplens-depth spec as ``defocus export`` writes it."""
    return ModelSpec(
        name="deeplens-depth-test", task="depth", file=file, sha256=sha256,
        inputs=(TensorSpec("image"),), outputs=(TensorSpec("depth", "NCHW", 1), TensorSpec("subject", "NCHW", 1)),
        preprocessing="srgb01", stride=8, licence="MIT",
        extra={"units": DEPTH_UNITS, "system": "deeplens-depth", **extra},
    )


def lens_spec(file: str = "deeplens-blur-test.onnx", sha256: str = "0" * 64) -> ModelSpec:
    """A bundled deeplens-blur spec as ``defocus export`` writes it."""
    return ModelSpec(
        name="deeplens-blur-test", task="lens-blur", file=file, sha256=sha256,
        inputs=(TensorSpec("image"), TensorSpec("signed_depth", "NCHW", 1)), outputs=(TensorSpec("output"),),
        preprocessing="srgb01", stride=4, licence="MIT",
        extra={"max_blur_radius_px": MAX_BLUR_RADIUS_PX, "levels": 2, "system": "deeplens-blur"},
    )


def install_deeplens(folder: Path, *, depth: bool = True, lens: bool = True) -> Path:
    """Write the stand-ins and a manifest naming them into ``folder`` (a weights folder)."""
    from defocus_cli.models.registry import spec_to_dict

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for wanted, make, build in ((depth, deeplens_depth_standin, depth_spec), (lens, lens_blur_standin, lens_spec)):
        if wanted:
            spec = build()
            data = make(folder / spec.file)
            entries.append(spec_to_dict(build(sha256=hashlib.sha256(data).hexdigest())))
    (folder / "manifest.json").write_text(json.dumps(entries, indent=2))
    return folder
