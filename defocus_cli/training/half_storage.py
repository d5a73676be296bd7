"""Half-size model files: weights stored as float16, computed in float32
(``defocus export RUN --float16-weights``).

Each large float32 weight (initializer) of an exported graph is replaced by a float16 copy and
a ``Cast`` back to float32 under the weight's own name, so every node still reads a float32
tensor of the same name and the arithmetic stays float32 on every execution provider;
onnxruntime folds the casts into constants when it loads the file. Only the stored values
are rounded (to 11 significant bits, a relative error below 5e-4), which halves the file, so
an ensemble of two networks fits where one did.

:func:`float32_weights` reads such a file's weights back under their original names, so a warm
start (``--init``) or an ensemble member (``--ensemble-with``) can load it like any export.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Weights with fewer elements stay float32: they are most of the graph's initializers by
#: count (biases, shapes, scalars) and nearly nothing by size.
MIN_ELEMENTS = 1024
#: Suffix of a float16 copy's initializer name; the Cast's output keeps the original name.
SUFFIX = ".float16"


def store_weights_as_float16(model: Any, min_elements: int = MIN_ELEMENTS) -> int:
    """Rewrite ``model`` (an ``onnx.ModelProto``, changed in place) so that each float32
    initializer of its main graph with at least ``min_elements`` values is stored as float16
    and cast back to float32 at the top of the graph; returns how many were rewritten."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    kept, casts, converted = [], [], 0
    for tensor in graph.initializer:
        size = int(np.prod(tensor.dims)) if tensor.dims else 1
        if tensor.data_type != onnx.TensorProto.FLOAT or size < min_elements:
            kept.append(tensor)
            continue
        values = numpy_helper.to_array(tensor)
        if not np.all(np.abs(values) <= np.finfo(np.float16).max):
            kept.append(tensor)  # beyond float16's range: rounding would make it inf
            continue
        kept.append(numpy_helper.from_array(values.astype(np.float16), tensor.name + SUFFIX))
        casts.append(onnx.helper.make_node("Cast", [tensor.name + SUFFIX], [tensor.name], to=onnx.TensorProto.FLOAT,
                                           name=f"{tensor.name}{SUFFIX}.cast"))
        converted += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return converted


def float32_weights(model: Any) -> dict[str, np.ndarray]:
    """The weights (initializers) of ``model`` as float32-or-native arrays by name, with each
    float16 copy made by :func:`store_weights_as_float16` under the name its Cast gives it."""
    import onnx
    from onnx import numpy_helper

    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Cast" or len(node.input) != 1 or node.input[0] not in arrays:
            continue
        target = next((a.i for a in node.attribute if a.name == "to"), None)
        source = arrays[node.input[0]]
        if target == onnx.TensorProto.FLOAT and source.dtype == np.float16:
            arrays[node.output[0]] = source.astype(np.float32)
            del arrays[node.input[0]]
    return arrays
