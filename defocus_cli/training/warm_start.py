"""Warm start: a new run's networks take their weights from an exported model
(``defocus train SYSTEM --init MODEL.onnx``, config ``train.init_from``).

The dynamo exporter names each weight of the graph by its parameter's dotted path in
:meth:`TrainingSystem.inference_module`, so an export of the same system and width maps back
onto a fresh run tensor by tensor. Parts that only training uses (DMENet's auxiliary heads, a
critic, an optimiser's moments) are not in the file and start as a new run's would.

An exporter may also fold weights into others (a BatchNorm into its convolution); such a file
cannot seed a run. Rather than trusting the names, the loaded module is run beside the file
on the same inputs, and a warm start that does not reproduce the file's output is refused.
"""

from __future__ import annotations

from pathlib import Path

import torch

from defocus_cli.errors import DefocusError, UsageError
from defocus_cli.training.template import TrainingSystem


def exported_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The named weights (initializers) of an ONNX file as tensors."""
    import onnx
    from onnx import numpy_helper

    if not path.is_file():
        raise UsageError(f"--init {path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception:  # noqa: BLE001 - any parse failure means the same to the user
        raise UsageError(f"--init {path}: not an ONNX model (export one with `defocus export`)") from None
    return {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}


def warm_start(system: TrainingSystem, path: Path) -> tuple[int, int]:
    """Copy the weights of the exported model at ``path`` into ``system``'s inference
    networks and check that they now reproduce it; returns how many tensors were copied and
    how many of those networks' tensors the file lacks (parts only training uses).

    Raises :class:`UsageError` when the file is not an export of this system and width.
    """
    from defocus_cli.training.export import CHECK_SIZES, check_parity

    path = Path(path)
    tensors = exported_tensors(path)
    module = system.inference_module()
    state = module.state_dict()
    found = {key: tensors[key] for key in state if key in tensors}
    if not found:
        raise UsageError(f"--init {path}: none of its weights belong to a {system.name} network; "
                         f"pass a model exported from a {system.name} run")
    for key, value in found.items():
        if tuple(value.shape) != tuple(state[key].shape):
            raise UsageError(f"--init {path}: {key} is {tuple(value.shape)} there but {tuple(state[key].shape)} "
                             "in this run; use the width and --set model.* values it was trained with")
        state[key] = value.to(state[key].dtype)
    module.load_state_dict(state)
    was_training = module.training
    module.eval()
    try:
        check_parity(module, path, system.export_contract(), CHECK_SIZES[:1])
    except DefocusError:
        raise UsageError(f"--init {path}: this run does not reproduce the model with its weights "
                         f"({len(found)} of {len(state)} tensors matched); it was exported from a "
                         "different configuration, or the exporter folded some weights") from None
    finally:
        module.train(was_training)
    return len(found), len(state) - len(found)
