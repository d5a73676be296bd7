"""Warm start: a new run's networks take their weights from an exported model
(``defocus train SYSTEM --init MODEL.onnx``, config ``train.init_from``).

The dynamo exporter names each weight of the graph by its parameter's dotted path in
:meth:`TrainingSystem.inference_module`, so an export of the same system and width maps back
onto a fresh run tensor by tensor. Parts that only training uses (DMENet's auxiliary heads, a
critic, an optimiser's moments) are not in the file and start as a new run's would.

The exporter folds an inference-mode BatchNorm into the convolution before it: the file keeps
the convolution's weight under its name, scaled, and a ``<conv>.weight_bias`` for the shift.
Such a pair is loaded as the folded weight and a BatchNorm that adds the shift and otherwise
passes values through (statistics 0 and 1), which computes the same in eval mode. Training
those BatchNorms again in train mode re-estimates their statistics and starts from another
function; a run that trains only what follows them (``deeplens-depth``'s
``model.subject_head_only``) keeps it exactly. Rather than trusting the names, the loaded
module is run beside the file on the same inputs, and a warm start that does not reproduce
the file's output is refused.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from defocus_cli.errors import DefocusError, UsageError
from defocus_cli.training.template import TrainingSystem


def read_export(path: Path, option: str = "--init") -> tuple[dict[str, torch.Tensor], list[str]]:
    """The named weights (initializers) of an ONNX file as tensors, float16-stored ones
    (``--float16-weights``) under their float32 names, and its output names (errors name the
    file after ``option``)."""
    import onnx

    from defocus_cli.training.half_storage import float32_weights

    if not path.is_file():
        raise UsageError(f"{option} {path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception:  # noqa: BLE001 - any parse failure means the same to the user
        raise UsageError(f"{option} {path}: not an ONNX model (export one with `defocus export`)") from None
    tensors = {name: torch.from_numpy(array.copy()) for name, array in float32_weights(model).items()}
    return tensors, [o.name for o in model.graph.output]


def unfolded_batchnorms(module: nn.Module, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors for each BatchNorm of ``module`` that the file folded into the bias-free
    convolution just before it (``<conv>.weight_bias`` present, ``<bn>.weight`` absent): a
    pass-through that adds the folded shift."""
    found: dict[str, torch.Tensor] = {}
    conv_name, conv = "", None
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d):
            conv_name, conv = name, child
            continue
        if not isinstance(child, nn.BatchNorm2d) or conv is None:
            continue
        shift = tensors.get(f"{conv_name}.weight_bias")
        if shift is not None and conv.bias is None and f"{name}.weight" not in tensors \
                and tuple(shift.shape) == (child.num_features,):
            ones = torch.ones(child.num_features)
            found.update({f"{name}.weight": ones, f"{name}.bias": shift, f"{name}.running_mean": torch.zeros_like(ones),
                          f"{name}.running_var": ones - child.eps})  # (x - 0) / sqrt(var + eps) = x
        conv = None
    return found


def copy_weights(system: TrainingSystem, tensors: dict[str, torch.Tensor], path: Path, option: str = "--init") -> int:
    """Copy ``tensors`` (an export's named weights, as :func:`read_export` gives them) into
    ``system``'s inference networks; returns how many were copied. Raises :class:`UsageError`
    (naming ``path`` after ``option``) when none belong to it or a shape differs."""
    module = system.inference_module()
    tensors = {**tensors, **unfolded_batchnorms(module, tensors)}
    state = module.state_dict()
    found = {key: tensors[key] for key in state if key in tensors}
    if not found:
        raise UsageError(f"{option} {path}: none of its weights belong to a {system.name} network; "
                         f"pass a model exported from a {system.name} run")
    for key, value in found.items():
        if tuple(value.shape) != tuple(state[key].shape):
            raise UsageError(f"{option} {path}: {key} is {tuple(value.shape)} there but {tuple(state[key].shape)} "
                             "in this run; use the width and --set model.* values it was trained with")
        state[key] = value.to(state[key].dtype)
    module.load_state_dict(state)
    return len(found)


def present_outputs(system: TrainingSystem, outputs: list[str], path: Path, option: str = "--init") -> tuple[str, ...]:
    """The names of ``system``'s graph outputs that the file at ``path`` has (a file exported
    before an output was added still seeds a run); raises :class:`UsageError` if none."""
    contract = system.export_contract()
    present = tuple(t.name for t in contract.outputs if t.name in outputs)
    if not present:
        raise UsageError(f"{option} {path}: it has none of a {system.name} graph's outputs "
                         f"({', '.join(t.name for t in contract.outputs)})")
    return present


def check_reproduces(module: nn.Module, system: TrainingSystem, path: Path, present: tuple[str, ...], copied: int,
                     option: str = "--init") -> None:
    """Refuse (:class:`UsageError`) a loaded ``module`` whose outputs ``present`` differ from the file's."""
    from defocus_cli.training.export import CHECK_SIZES, check_parity

    was_training = module.training
    module.eval()
    try:
        check_parity(module, path, system.export_contract(), CHECK_SIZES[:1], outputs=present)
    except DefocusError:
        total = len(system.inference_module().state_dict())
        raise UsageError(f"{option} {path}: this run does not reproduce the model with its weights "
                         f"({copied} of {total} tensors matched); it was exported from a "
                         "different configuration, or the exporter folded some weights") from None
    finally:
        module.train(was_training)


def warm_start(system: TrainingSystem, path: Path, option: str = "--init") -> tuple[int, int]:
    """Copy the weights of the exported model at ``path`` into ``system``'s inference
    networks and check that they now reproduce it; returns how many tensors were copied and
    how many of those networks' tensors the file lacks (parts only training uses).

    Raises :class:`UsageError` when the file is not an export of this system and width; its
    message names the file after ``option``, the command-line option that gave it.
    """
    path = Path(path)
    tensors, outputs = read_export(path, option)
    copied = copy_weights(system, tensors, path, option)
    present = present_outputs(system, outputs, path, option)
    check_reproduces(system.inference_module(), system, path, present, copied, option)
    return copied, len(system.inference_module().state_dict()) - copied
