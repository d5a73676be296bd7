"""The template every trainable system implements (one contract for the loop, export and eval).

A *system* owns its networks, losses, optimisers and schedulers, and knows its data. The
training loop (:mod:`defocus_cli.training.loop`) only ever calls the methods below, so a new
system is one class in ``training/systems/`` registered under a name with
:func:`defocus_cli.training.systems.register_system`.

Configuration is a plain nested dict (what ``--config YAML`` holds), resolved by
:func:`defocus_cli.training.config.resolve_config` from three layers: the loop's defaults
(:data:`defocus_cli.training.config.BASE_CONFIG`), ``cls.default_config(width)``, then the
user's YAML and command-line overrides. Sections:

* ``model``: the system's own keys (widths, depths, loss weights, ablation switches).
* ``data``: ``crop`` (H, W of training crops, multiples of ``cls.stride``), ``dir`` (a real
  dataset folder or ``None`` for on-the-fly synthetic data), ``seed``, ``val_samples`` and
  anything the system's sampler takes.
* ``train``: ``steps``, ``batch_size``, ``lr``, ``seed``, ``log_every``, ``val_every``,
  ``ckpt_every``, ``num_workers``, ``device`` (owned by the loop; a system may override
  defaults such as ``lr`` or ``batch_size`` in its ``default_config``).

``width`` selects a preset of ``model`` widths: ``"paper"`` (the seed's widths, for a GPU),
``"cpu"`` (trains on two CPU cores; the shipped weights) and ``"tiny"`` (tests: a GAN step
in well under a second).

Tensors: images are NCHW float32 sRGB in [0, 1]; maps are Nx1xHxW; H and W of every
training crop and every exported input are multiples of ``cls.stride`` (4 for the
Johnson-style generators: two stride-2 convolutions). The inference pipelines pad to the
stride with :mod:`defocus_cli.models.tiling` before calling the ONNX graph.

Distributed runs (``torchrun``): the loop seeds and places the system, then every optimiser
step goes through :meth:`TrainingSystem.step`, which averages the gradients of that
optimiser's parameters across ranks (data parallelism, as DistributedDataParallel does)
before stepping. Explicit averaging is used instead of the DDP wrapper because a
WGAN-GP gradient penalty differentiates through ``torch.autograd.grad`` and the frozen
critic's forward runs in the generator step -- both break DDP's reducer hooks.

Example (a minimal system)::

    import torch
    from torch import nn
    from defocus_cli.training.template import ExportContract, TrainingSystem, linear_decay
    from defocus_cli.training.systems import register_system
    from defocus_cli.models.registry import TensorSpec

    @register_system
    class Sharpen(TrainingSystem):
        name = "sharpen"
        task = "deblur"

        @classmethod
        def default_config(cls, width="cpu"):
            return {"model": {"ngf": {"paper": 64, "cpu": 16, "tiny": 4}[width]}}

        def build(self):
            self.net = nn.Conv2d(3, 3, 3, padding=1)
            opt = torch.optim.Adam(self.net.parameters(), lr=self.config["train"]["lr"])
            self.optimizers = {"g": opt}
            self.schedulers = {"g": linear_decay(opt, self.config["train"]["steps"])}

        def set_input(self, batch):
            self.x, self.y = batch["blurred"].to(self.device), batch["sharp"].to(self.device)

        def optimize_parameters(self, step):
            self.out = self.net(self.x)
            loss = (self.out - self.y).abs().mean()
            self.optimizers["g"].zero_grad(set_to_none=True)
            loss.backward()
            self.step(self.optimizers["g"])
            return {"l1": loss.item()}

        def visuals(self):
            return {"input": self.x, "output": self.out, "target": self.y}

        def predict(self, batch):  # used by the default validation_metrics
            return self.net(batch["blurred"].to(self.device)), batch["sharp"].to(self.device)

        def inference_module(self):
            return self.net

        def export_contract(self):
            return ExportContract(inputs=(TensorSpec("image"),), outputs=(TensorSpec("output"),),
                                  example=lambda h, w: (torch.rand(1, 3, h, w),))

        @classmethod
        def make_dataset(cls, config, split):
            ...  # a torch Dataset of dicts of CHW float32 tensors (see training.datasets)
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from defocus_cli.errors import UsageError
from defocus_cli.models.registry import TensorSpec

Config = dict[str, Any]
Batch = dict[str, torch.Tensor]

#: Width presets every system understands (see the module docstring).
WIDTHS: tuple[str, ...] = ("paper", "cpu", "tiny")


@dataclass(frozen=True)
class ExportContract:
    """How :meth:`TrainingSystem.inference_module` is exported and described in its ModelSpec.

    ``inputs``/``outputs`` name the ONNX tensors in the order of the module's ``forward``
    arguments and returned values; image tensors are ``NCHW`` with dynamic H and W (multiples
    of ``stride``), per-image scalars (e.g. the magnification m) are ``NC``.
    ``example(h, w)`` builds one set of example inputs at that size (H, W multiples of
    ``stride``); export traces with it and checks torch against onnxruntime at two sizes.
    ``preprocessing`` is a :data:`defocus_cli.models.registry.PREPROCESSING` name; ``extra``
    lands in ``ModelSpec.extra`` (e.g. which focus measure feeds an input channel).
    """

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    example: Callable[[int, int], tuple[torch.Tensor, ...]]
    preprocessing: str = "srgb01"
    extra: dict[str, Any] = field(default_factory=dict)


def linear_decay(optimizer: torch.optim.Optimizer, total_steps: int, hold_fraction: float = 0.5) -> torch.optim.lr_scheduler.LambdaLR:
    """Constant lr for ``hold_fraction`` of the run, then linearly to 0 at ``total_steps``
    (seeds 000/001: Adam at 1e-4, decayed to 0 over the second half). Step it once per step."""
    total = max(1, int(total_steps))
    hold = int(total * hold_fraction)

    def factor(step: int) -> float:
        if step < hold:
            return 1.0
        return max(0.0, 1.0 - (step - hold) / max(1, total - hold))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def set_requires_grad(nets: nn.Module | Iterable[nn.Module | None], flag: bool) -> None:
    """Freeze (``False``) or unfreeze networks; the critic is frozen during the generator step."""
    if isinstance(nets, nn.Module):
        nets = [nets]
    for net in nets:
        if net is not None:
            for p in net.parameters():
                p.requires_grad_(flag)


class TrainingSystem(nn.Module, abc.ABC):
    """Base class of every trainable system; see the module docstring for the contract.

    Subclasses set ``name`` (registry key and ``defocus train`` argument), ``task`` (the
    ModelSpec task of the exported graph) and, if not 4, ``stride``; they implement
    :meth:`build`, :meth:`set_input`, :meth:`optimize_parameters`, :meth:`visuals`,
    :meth:`inference_module`, :meth:`export_contract` and :meth:`make_dataset`, plus
    either :meth:`predict` or :meth:`validation_metrics`.

    ``optimizers`` and ``schedulers`` are dicts (name -> object) filled by :meth:`build`;
    the loop steps every scheduler once after each :meth:`optimize_parameters` call and saves
    both with :meth:`state_dict`. ``notes`` (a dict of strings) records what the resolved
    config cannot, e.g. which substitute replaced a missing VGG19; the loop saves it next to
    the config and export copies it into the model card.
    """

    name: ClassVar[str] = ""
    task: ClassVar[str] = ""
    stride: ClassVar[int] = 4

    def __init__(self, config: Config, device: torch.device | str = "cpu") -> None:
        super().__init__()
        self.config = config
        self.device = torch.device(device)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        self.notes: dict[str, str] = {}
        self.build()
        self.to(self.device)
        # Optimisers were built on CPU tensors; Adam's state is created lazily, so moving the
        # parameters (in place, via .to) keeps the references valid.

    # ---- configuration -------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def default_config(cls, width: str = "cpu") -> Config:
        """Section overrides (``model``, ``data``, ``train``) for a width preset in :data:`WIDTHS`."""

    @property
    def model_config(self) -> Config:
        return self.config.get("model", {})

    @property
    def train_config(self) -> Config:
        return self.config.get("train", {})

    # ---- construction --------------------------------------------------------------------
    @abc.abstractmethod
    def build(self) -> None:
        """Create networks (as attributes), ``self.optimizers`` and ``self.schedulers``."""

    # ---- one training step ---------------------------------------------------------------
    @abc.abstractmethod
    def set_input(self, batch: Batch) -> None:
        """Take one collated batch (dict of NCHW tensors) and move it to ``self.device``."""

    @abc.abstractmethod
    def optimize_parameters(self, step: int) -> dict[str, float]:
        """One optimisation step on the current input; returns the losses to log (floats).

        ``step`` is the 0-based global step (for schedules such as critic iterations). A GAN
        system updates the critic first, then freezes it (:func:`set_requires_grad`) for the
        generator update and unfreezes it afterwards. Step optimisers with :meth:`step`.
        """

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()`` after averaging its parameters' gradients across ranks."""
        from defocus_cli.training.distributed import average_gradients

        average_gradients(p for group in optimizer.param_groups for p in group["params"])
        optimizer.step()

    @abc.abstractmethod
    def visuals(self) -> dict[str, torch.Tensor]:
        """Images of the last step to save (NCHW, sRGB [0, 1]; maps Nx1xHxW scaled to [0, 1])."""

    # ---- validation ----------------------------------------------------------------------
    def predict(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction, target) for a validation batch, both NCHW sRGB [0, 1]; used by the
        default :meth:`validation_metrics`. Systems whose output is not an image override
        :meth:`validation_metrics` instead."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict() or validation_metrics()")

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        """Mean metrics over one held-out batch; the default is PSNR/SSIM (dB, [0, 1]) of
        :meth:`predict` on 8-bit quantised sRGB, as the papers' tables are computed."""
        from defocus_cli.training.evaluate import image_metrics

        was_training = self.training
        self.eval()
        try:
            pred, target = self.predict(batch)
        finally:
            self.train(was_training)
        return image_metrics(pred, target)

    # ---- export --------------------------------------------------------------------------
    @abc.abstractmethod
    def inference_module(self) -> nn.Module:
        """The graph exported to ONNX: ``forward(*inputs) -> output or tuple of outputs`` in
        the order of :meth:`export_contract`; eval-mode behaviour (no dropout noise)."""

    @abc.abstractmethod
    def export_contract(self) -> ExportContract:
        """ONNX input/output names and layouts, example inputs and preprocessing."""

    # ---- data ----------------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def make_dataset(cls, config: Config, split: str) -> torch.utils.data.Dataset:
        """A map-style Dataset for ``split`` in ``{"train", "val"}`` whose items are dicts of
        CHW float32 tensors (default collation stacks them).

        With ``config["data"]["dir"]`` unset, items are synthesised on the fly from
        :mod:`defocus_cli.data`, item ``i`` from a seed derived from ``(data.seed, split, i)``
        so training and validation never share a scene (see
        :class:`defocus_cli.training.datasets.SyntheticDataset`).
        """

    # ---- checkpoints ---------------------------------------------------------------------
    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """Networks, optimisers and schedulers: everything a resume needs except RNG/step
        (saved by the loop)."""
        return {
            "networks": super().state_dict(*args, **kwargs),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:  # type: ignore[override]
        """Inverse of :meth:`state_dict`; also accepts a bare network state dict (weights only)."""
        if "networks" not in state:
            return super().load_state_dict(state, strict=strict, assign=assign)
        result = super().load_state_dict(state["networks"], strict=strict, assign=assign)
        for key, opt_state in state.get("optimizers", {}).items():
            if key in self.optimizers:
                self.optimizers[key].load_state_dict(opt_state)
        for key, sched_state in state.get("schedulers", {}).items():
            if key in self.schedulers:
                self.schedulers[key].load_state_dict(sched_state)
        return result

    def part(self, name: str) -> TrainingSystem:
        """Another network this run trained, as a system of its own to export
        (``defocus export RUN --part NAME``); a system with none raises UsageError."""
        raise UsageError(f"a {self.name} run of this config has no part {name!r} to export")

    def resolved_notes(self) -> dict[str, str]:
        """What the run actually used beyond its config (substitute losses, random inits)."""
        return dict(self.notes)
