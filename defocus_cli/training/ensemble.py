"""Output ensembles: one exported graph that runs several networks of one architecture on the
same input and returns the mean of each output (``defocus export RUN --ensemble-with MODEL``).

Independently trained runs of one recipe differ most where the training data says least,
which for a model trained on synthetic scenes is what real photos show; their mean keeps
what they agree on. Unlike a weight average (``--average-with``), it needs no shared starting
point, at the price of one network pass per member.

Members are run folders (their last checkpoint) or exported ``.onnx`` files of the same
system and width: an export is loaded back by :func:`~defocus_cli.training.warm_start.warm_start`,
which checks that the loaded network reproduces the file. An exported ensemble is taken apart
into its networks, so that adding a run to a shipped ensemble averages every network alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from defocus_cli.errors import UsageError
from defocus_cli.training.template import Config

#: The option that names members, for messages.
OPTION = "--ensemble-with"
#: How an ensemble export names its members' weights: ``members.<i>.<weight>``.
MEMBER_PREFIX = "members."


class OutputMean(nn.Module):
    """The element-wise mean of each output of ``members`` (modules with the same inputs and
    outputs: one tensor, or a tuple of tensors)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, *inputs: torch.Tensor) -> Any:
        outputs = [member(*inputs) for member in self.members]
        if isinstance(outputs[0], torch.Tensor):
            return torch.stack(outputs).mean(dim=0)
        return tuple(torch.stack(group).mean(dim=0) for group in zip(*outputs, strict=True))


def _ensemble_indices(tensors: dict[str, torch.Tensor]) -> list[int]:
    """The member numbers of an ensemble export (weights named ``members.<i>.<name>``), or []."""
    return sorted({int(key.split(".")[1]) for key in tensors
                   if key.startswith(MEMBER_PREFIX) and key.split(".")[1].isdigit()})


def member_modules(config: Config, source: str | Path) -> list[nn.Module]:
    """The inference modules, in eval mode, of ``source``: a training run folder of the same
    system and width as ``config`` (its last checkpoint), such a run's exported ``.onnx``, or
    an ensemble exported from such runs, whose networks come back one by one (so a new
    ensemble weighs each of them like any other member)."""
    from defocus_cli.training.export import load_trained_system
    from defocus_cli.training.loop import build_system, load_run_config
    from defocus_cli.training.warm_start import (
        check_reproduces,
        copy_weights,
        present_outputs,
        read_export,
        warm_start,
    )

    path = Path(source)
    if path.is_dir():
        other = load_run_config(path)
        for key in ("system", "width"):
            if other.get(key) != config.get(key):
                raise UsageError(f"{OPTION} {path}: a {other.get('width')}-width {other.get('system')} run, "
                                 f"not a {config.get('width')}-width {config.get('system')} run like this one")
        system, _ = load_trained_system(path)
        system.eval()
        return [system.inference_module().eval()]
    if not (path.suffix.lower() == ".onnx" and path.is_file()):
        raise UsageError(f"{OPTION} {path}: expected an exported .onnx file or a training run folder")
    tensors, outputs = read_export(path, OPTION)
    indices = _ensemble_indices(tensors)
    if not indices:
        system = build_system(config, "cpu")
        warm_start(system, path, option=OPTION)
        system.eval()
        return [system.inference_module().eval()]
    modules, copied = [], 0
    for index in indices:
        prefix = f"{MEMBER_PREFIX}{index}."
        system = build_system(config, "cpu")
        copied += copy_weights(system, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                               path, OPTION)
        system.eval()
        modules.append(system.inference_module().eval())
    # The members together must reproduce the file's graph, as a single export must.
    check_reproduces(OutputMean(modules), system, path, present_outputs(system, outputs, path, OPTION), copied, OPTION)
    return modules


def ensemble_module(config: Config, module: nn.Module, sources: Sequence[str | Path]) -> OutputMean:
    """``module`` (the exported run's inference module) and each network of ``sources``, averaged."""
    return OutputMean([module, *(member for source in sources for member in member_modules(config, source))])
