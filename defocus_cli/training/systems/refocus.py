"""RefocusGAN (seed 001): deblur G1 and refocus G2, ``defocus train deblur|refocus``.

**deblur** (G1, Eq. 1): input a wide-aperture focal slice + its SML focus measure
(:func:`defocus_cli.ops.focus.sml`; ``model.focus_channel: false`` drops it, seed 001
Table 1), 9 residual blocks, output = input RGB + residual, the all-in-focus radiance. Critic
conditioned on the input and its SML channel (Eq. 5). Loss ``L_cGAN + 100 L_X``.
``model.refocus_model: FILE`` (an exported two-stage refocus ``.onnx``) adds the content loss
of that G2, frozen, fed this G1's radiance, against the slice ``delta`` steps away (deltas
from ``model.refocus_deltas``), weighted by ``model.refocus_weight``: G1 then learns the
radiance the ``refocus`` pipeline needs from it, not only the one closest to the truth.
``model.refocus_trainable: true`` trains that G2 too, on the same loss (its own optimiser, the
same schedule): the two stages are fine-tuned jointly, each to what the other gives, and
``defocus export RUN --part refocus`` writes the G2 of the run.

**refocus** (G2, Eq. 2): input the slice G^i and the radiance G^r (``model.stages: 2``) or
the slice alone (``model.stages: 1``, the single-stage baseline of Table 2); delta in
-9..+9 as a one-hot vector of 19 through a fully connected layer to a 64x64 channel appended
at the innermost layer (before the first of 9 residual blocks). Target: slice i + delta.
Critic conditioned on the slice and the radiance (Eq. 7). ``model.deltas`` is the set of
refocus steps trained on: ``[8]``, ``[-9, -5, 5, 9]`` or all of them (Table 2's three
configurations); each draw picks an entry uniformly, so a step listed twice is trained on
twice as often. As in the seed, G2 trains on the ground-truth radiance; the pipeline feeds
it G1's output. ``model.radiance_mix: [lo, hi]`` instead moves the training radiance towards
the slice by t ~ U(lo, hi), as an imperfect G1 leaves it; ``model.radiance_model: FILE``
(an exported deblur ``.onnx``) trains and validates G2 on that G1's radiance of each slice,
the input the ``refocus`` pipeline gives it.

Data: :func:`defocus_cli.data.tasks.focal_stack_sample` (10 slices, nearest focus first)
on the fly, or ``.npz`` samples with keys ``slices`` (10xHxWx3) and ``all_in_focus``.

Exported graphs (H, W multiples of 4, sRGB [0, 1]):
deblur ``(image Nx3xHxW, sml Nx1xHxW) -> output``;
refocus ``(image, radiance Nx3xHxW, delta Nx1) -> output`` (two-stage) or
``(image, delta) -> output`` (single-stage); ``delta`` holds the integer step as a float.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from defocus_cli.data.tasks import FOCAL_STACK_SLICES, focal_stack_sample
from defocus_cli.errors import UsageError
from defocus_cli.models.registry import TensorSpec
from defocus_cli.ops.focus import sml
from defocus_cli.pipelines.refocus import ALL_DELTAS
from defocus_cli.training.datasets import (
    UNBOUNDED,
    NpzFolderDataset,
    SyntheticDataset,
    random_crop_pair,
    to_tensor,
)
from defocus_cli.training.nets.johnson import JohnsonGenerator
from defocus_cli.training.systems import register_system
from defocus_cli.training.systems.gan import WGANImageSystem, frozen, gan_config
from defocus_cli.training.template import (
    Batch,
    Config,
    ExportContract,
    TrainingSystem,
    linear_decay,
)

MAX_DELTA = 9
N_DELTAS = 2 * MAX_DELTA + 1
_CROPS = {"paper": [256, 256], "cpu": [64, 64], "tiny": [32, 32]}
_BATCH = {"paper": 1, "cpu": 4, "tiny": 2}
_STACK_DATA = {"blur_radius_px": [4.0, 10.0]}


def one_hot_delta(delta: torch.Tensor) -> torch.Tensor:
    """Nx1 float delta in -9..9 -> Nx19 one-hot (index 0 = -9); comparisons, so it exports."""
    steps = torch.arange(-MAX_DELTA, MAX_DELTA + 1, device=delta.device, dtype=delta.dtype)
    return ((delta.reshape(-1, 1) - steps[None]).abs() < 0.5).to(delta.dtype)


def _crop_stack(rng: np.random.Generator, s: dict[str, Any], crop: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    slices = np.asarray(s["slices"], np.float32)
    aif = np.asarray(s["all_in_focus"], np.float32)
    if slices.shape[1:3] != tuple(crop):
        parts = random_crop_pair(rng, [np.moveaxis(slices, 0, 2).reshape(*slices.shape[1:3], -1), aif], crop)
        slices = np.moveaxis(parts[0].reshape(*crop, slices.shape[0], 3), 2, 0)
        aif = parts[1]
    return slices, aif


def _stack_dataset(config: Config, split: str, pick: Any, item: Any) -> torch.utils.data.Dataset:
    """Focal-stack items: ``pick(rng, n_slices)`` chooses the slice indices an item needs and
    ``item(slices, indices, aif)`` builds it from just those slices. On-the-fly data renders only
    the picked slices (one or two of ten), which makes a sample several times cheaper."""
    data = config["data"]
    crop = tuple(data["crop"] if split == "train" else (data.get("val_crop") or data["crop"]))

    def transform(s: dict[str, Any], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        if "slice_indices" in s:
            indices = tuple(int(i) for i in s["slice_indices"])
        else:  # a saved full stack
            indices = pick(rng, len(s["slices"]))
            s = {**s, "slices": np.asarray(s["slices"])[list(indices)]}
        slices, aif = _crop_stack(rng, s, crop)
        return item(slices, indices, aif)

    if data.get("dir") and split == "train":  # validation stays on the held-out synthetic split
        return NpzFolderDataset(data["dir"], ("slices", "all_in_focus"), seed=data["seed"], split=split,
                                transform=transform)

    def sample(rng: np.random.Generator) -> dict[str, Any]:
        indices = pick(rng, FOCAL_STACK_SLICES)
        return focal_stack_sample(rng, crop, blur_radius_px=tuple(data["blur_radius_px"]), slice_indices=indices)

    length = UNBOUNDED if split == "train" else int(data["val_samples"])
    return SyntheticDataset(sample, seed=data["seed"], split=split, length=length, transform=transform)


class DeblurGraph(nn.Module):
    def __init__(self, generator: JohnsonGenerator, focus_channel: bool) -> None:
        super().__init__()
        self.generator, self.focus_channel = generator, focus_channel

    def forward(self, image: torch.Tensor, sml_map: torch.Tensor) -> torch.Tensor:
        x = torch.cat([image, sml_map], dim=1) if self.focus_channel else image
        return self.generator(x)


@register_system
class DeblurSystem(WGANImageSystem):
    """RefocusGAN G1: focal slice (+ SML) -> all-in-focus radiance."""

    name = "deblur"
    task = "deblur"

    @classmethod
    def default_config(cls, width: str = "cpu") -> Config:
        blocks = 1 if width == "tiny" else 9
        return gan_config(width, {"blocks": blocks, "focus_channel": True, "refocus_model": None,
                                  "refocus_weight": 1.0, "refocus_deltas": list(ALL_DELTAS),
                                  "refocus_trainable": False},
                          data={"crop": _CROPS[width], **_STACK_DATA}, train={"batch_size": _BATCH[width]})

    def build(self) -> None:
        m = self.model_config
        partner = _open_refocus_partner(m.get("refocus_model"), self.config.get("width", "cpu"))
        trainable = bool(m.get("refocus_trainable"))
        if trainable and partner is None:
            raise UsageError("model.refocus_trainable needs model.refocus_model (the G2 to train with G1)")
        # Held in a tuple so that a frozen G2 is not one of this system's networks: checkpoints,
        # averaging and export see G1 alone. A trainable G2's generator is registered below.
        self._partner = (partner,)
        if partner is not None:
            _check_deltas(m["refocus_deltas"])
            if float(m["refocus_weight"]) <= 0:
                raise UsageError(f"model.refocus_weight must be > 0, got {m['refocus_weight']!r}")
            if not trainable:
                frozen(partner)
        super().build()
        self.notes["focus_channel"] = "SML" if m["focus_channel"] else "none (ablation)"
        if partner is None:
            return
        partner.to(self.device)
        g2 = Path(m["refocus_model"]).name
        weight = f"weight {float(m['refocus_weight']):g}"
        if trainable:
            self.refocus_generator = partner.generator
            t = self.train_config
            opt_r = torch.optim.Adam(self.refocus_generator.parameters(), lr=t["lr"], betas=tuple(t["betas"]))
            self.optimizers["refocus"] = opt_r
            self.schedulers["refocus"] = linear_decay(opt_r, t["steps"])
            self.notes["refocus_loss"] = (f"content loss of the G2 {g2} on this radiance, {weight}; "
                                          "that G2 trained jointly with this G1 (export it with --part refocus)")
            partner.notes["trained"] = (f"jointly with a deblur G1 from {g2}: content loss on G1's radiance, "
                                        f"{weight}, deltas {sorted(set(m['refocus_deltas']))}")
        else:
            self.notes["refocus_loss"] = f"content loss of the frozen G2 {g2} on this radiance, {weight}"

    @property
    def refocus_partner(self) -> RefocusSystem | None:
        """The G2 of ``model.refocus_model`` (frozen unless ``model.refocus_trainable``), or None."""
        return self._partner[0]

    def optimize_parameters(self, step: int) -> dict[str, float]:
        opt_r = self.optimizers.get("refocus")
        if opt_r is None:
            return super().optimize_parameters(step)
        # The generator step's backward also fills G2's gradients from the refocus loss.
        opt_r.zero_grad(set_to_none=True)
        logs = super().optimize_parameters(step)
        self.step(opt_r)
        return logs

    def part(self, name: str) -> TrainingSystem:
        """``refocus``: the G2 trained jointly with this G1 (``model.refocus_trainable``)."""
        if name == "refocus" and "refocus" in self.optimizers:
            return self.refocus_partner
        return super().part(name)

    def extra_generator_loss(self, fake: torch.Tensor, logs: dict[str, float]) -> torch.Tensor | None:
        """The content loss of the G2 of ``model.refocus_model`` refocusing this radiance."""
        if self.refocus_partner is None or self.content is None:
            return None
        b = self.batch
        refocused = RefocusGraph(self.refocus_partner.generator)(b["image"], fake.clamp(0.0, 1.0), b["delta"])
        loss = self.content(refocused, b["refocus_target"])
        logs["loss_refocus"] = loss.item()
        return float(self.model_config["refocus_weight"]) * self.model_config["lambda_x"] * loss

    def _in_channels(self) -> int:
        return 4 if self.model_config["focus_channel"] else 3

    def make_generator(self) -> JohnsonGenerator:
        m = self.model_config
        return JohnsonGenerator(self._in_channels(), m["ngf"], m["blocks"], 0, dropout=m["dropout"],
                                skips=bool(m["skips"]))

    def critic_in_channels(self) -> int:
        return 3 + self._in_channels()

    def generator_inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.model_config["focus_channel"]:
            return torch.cat([batch["image"], batch["sml"]], dim=1), None
        return batch["image"], None

    def critic_condition(self, batch: Batch) -> torch.Tensor | None:
        return self.generator_inputs(batch)[0]

    def inference_module(self) -> nn.Module:
        return DeblurGraph(self.generator, bool(self.model_config["focus_channel"])).eval()

    def export_contract(self) -> ExportContract:
        return ExportContract(
            inputs=(TensorSpec("image", "NCHW", 3), TensorSpec("sml", "NCHW", 1)),
            outputs=(TensorSpec("output", "NCHW", 3),),
            example=lambda h, w: (torch.rand(1, 3, h, w), torch.rand(1, 1, h, w)),
            extra={"focus_channel": "defocus_cli.ops.focus.sml" if self.model_config["focus_channel"] else None,
                   "training_blur_radius_px": _training_blur(self.config)},
        )

    @classmethod
    def make_dataset(cls, config: Config, split: str) -> torch.utils.data.Dataset:
        m = config["model"]
        if m.get("refocus_model"):  # each item also carries a refocus pair for the G2 loss
            return _refocus_pairs(config, split, m["refocus_deltas"], radiance_key="target")

        def pick(rng: np.random.Generator, n: int) -> tuple[int, ...]:
            return (int(rng.integers(0, n)),)

        def item(slices: np.ndarray, indices: tuple[int, ...], aif: np.ndarray) -> dict[str, torch.Tensor]:
            image = slices[0]
            return {"image": to_tensor(image), "sml": to_tensor(sml(image)), "target": to_tensor(aif)}

        return _stack_dataset(config, split, pick, item)


class RefocusGraph(nn.Module):
    """Two-stage G2 as exported: ``(image, radiance, delta) -> output``."""

    def __init__(self, generator: JohnsonGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, image: torch.Tensor, radiance: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return self.generator(torch.cat([image, radiance], dim=1), one_hot_delta(delta))


class SingleStageRefocusGraph(nn.Module):
    """Single-stage G2 as exported: ``(image, delta) -> output``."""

    def __init__(self, generator: JohnsonGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, image: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return self.generator(image, one_hot_delta(delta))


@register_system
class RefocusSystem(WGANImageSystem):
    """RefocusGAN G2: (slice, radiance, delta) -> the slice focused delta steps farther."""

    name = "refocus"
    task = "refocus"

    @classmethod
    def default_config(cls, width: str = "cpu") -> Config:
        blocks = 1 if width == "tiny" else 9
        return gan_config(width, {"blocks": blocks, "stages": 2, "deltas": [-9, -5, 5, 9], "radiance_mix": [0.0, 0.0],
                                  "radiance_model": None},
                          data={"crop": _CROPS[width], **_STACK_DATA}, train={"batch_size": _BATCH[width]})

    def build(self) -> None:
        m = self.model_config
        if m["stages"] not in (1, 2):
            raise UsageError(f"model.stages must be 1 or 2, got {m['stages']!r}")
        _check_deltas(m["deltas"])
        self.radiance_mix = _check_mix(m.get("radiance_mix", [0.0, 0.0]))
        self.radiance_model = _open_radiance_model(m.get("radiance_model"), m["stages"], self.radiance_mix)
        super().build()
        if self.radiance_model is not None:
            self.notes["radiance"] = f"from the deblur model {Path(m['radiance_model']).name} (G1), as refocus feeds it"
        self.notes["stages"] = "two-stage (slice + radiance)" if m["stages"] == 2 else "single-stage (slice only)"
        if self.two_stage and self.radiance_mix[1] > 0:
            lo, hi = self.radiance_mix
            self.notes["radiance"] = (f"ground truth moved towards the slice by t ~ U({lo:g}, {hi:g}) in training, "
                                      "as an imperfect deblur leaves it")

    def optimize_parameters(self, step: int) -> dict[str, float]:
        lo, hi = self.radiance_mix
        if self.two_stage and hi > 0:
            # G1's radiance lies between the slice and the truth; train G2 on radiance like it
            b = self.batch
            t = lo + (hi - lo) * torch.rand(b["image"].shape[0], 1, 1, 1, device=b["image"].device)
            b["radiance"] = b["radiance"] + t * (b["image"] - b["radiance"])
        return super().optimize_parameters(step)

    def set_input(self, batch: Batch) -> None:
        super().set_input(self._with_model_radiance(batch))

    def predict(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return super().predict(self._with_model_radiance(batch))

    def _with_model_radiance(self, batch: Batch) -> Batch:
        """``batch`` with its radiance replaced by G1's of each slice (``model.radiance_model``)."""
        if self.radiance_model is None:
            return batch
        from defocus_cli.pipelines.deblur import deblur_network

        images = batch["image"].detach().cpu().permute(0, 2, 3, 1).numpy()
        radiance = np.stack([np.clip(deblur_network(self.radiance_model, im), 0.0, 1.0) for im in images])
        return {**batch, "radiance": torch.from_numpy(radiance).permute(0, 3, 1, 2).contiguous()}

    @property
    def two_stage(self) -> bool:
        return self.model_config["stages"] == 2

    def make_generator(self) -> JohnsonGenerator:
        m = self.model_config
        return JohnsonGenerator(6 if self.two_stage else 3, m["ngf"], 0, m["blocks"], cond_features=N_DELTAS,
                                dropout=m["dropout"], skips=bool(m["skips"]))

    def critic_in_channels(self) -> int:
        return 3 + (6 if self.two_stage else 3)

    def generator_inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = torch.cat([batch["image"], batch["radiance"]], dim=1) if self.two_stage else batch["image"]
        return x, one_hot_delta(batch["delta"])

    def critic_condition(self, batch: Batch) -> torch.Tensor | None:
        return self.generator_inputs(batch)[0]

    def inference_module(self) -> nn.Module:
        graph = RefocusGraph if self.two_stage else SingleStageRefocusGraph
        return graph(self.generator).eval()

    def export_contract(self) -> ExportContract:
        image, delta = TensorSpec("image", "NCHW", 3), TensorSpec("delta", "NC", 1)
        if self.two_stage:
            inputs = (image, TensorSpec("radiance", "NCHW", 3), delta)

            def example(h: int, w: int) -> tuple[torch.Tensor, ...]:
                return torch.rand(1, 3, h, w), torch.rand(1, 3, h, w), torch.full((1, 1), 5.0)
        else:
            inputs = (image, delta)

            def example(h: int, w: int) -> tuple[torch.Tensor, ...]:
                return torch.rand(1, 3, h, w), torch.full((1, 1), -5.0)
        return ExportContract(inputs=inputs, outputs=(TensorSpec("output", "NCHW", 3),), example=example,
                              extra={"stages": self.model_config["stages"], "deltas": sorted(set(self.model_config["deltas"])),
                                     "radiance_from": "deblur" if self.two_stage else None,
                                     "focal_stack_slices": FOCAL_STACK_SLICES,
                                     "training_blur_radius_px": _training_blur(self.config)})

    @classmethod
    def make_dataset(cls, config: Config, split: str) -> torch.utils.data.Dataset:
        return _refocus_pairs(config, split, config["model"]["deltas"], radiance_key="radiance")


def _refocus_pairs(config: Config, split: str, deltas: Any, radiance_key: str) -> torch.utils.data.Dataset:
    """Items of a slice, the slice ``delta`` steps away and the radiance. For G2 (``radiance_key``
    "radiance") the far slice is the target; for G1 trained through G2 ("target") the radiance is
    the target, and the far slice (``refocus_target``) and the slice's SML ride along."""
    deltas = _check_deltas(deltas)

    def pick(rng: np.random.Generator, n: int) -> tuple[int, ...]:
        delta = int(deltas[int(rng.integers(0, len(deltas)))])
        valid = [i for i in range(n) if 0 <= i + delta < n]
        i = valid[int(rng.integers(0, len(valid)))]
        return i, i + delta

    def item(slices: np.ndarray, indices: tuple[int, ...], aif: np.ndarray) -> dict[str, torch.Tensor]:
        delta = to_tensor(np.float32(indices[1] - indices[0]))
        if radiance_key == "radiance":
            return {"image": to_tensor(slices[0]), "radiance": to_tensor(aif), "delta": delta,
                    "target": to_tensor(slices[1])}
        return {"image": to_tensor(slices[0]), "sml": to_tensor(sml(slices[0])), "target": to_tensor(aif),
                "delta": delta, "refocus_target": to_tensor(slices[1])}

    return _stack_dataset(config, split, pick, item)


def _open_refocus_partner(path: Any, width: str) -> RefocusSystem | None:
    """A G2 system (content loss only) with the weights of the two-stage refocus model
    exported at ``path``, or None."""
    if path is None:
        return None
    from defocus_cli.training.config import resolve_config
    from defocus_cli.training.warm_start import warm_start

    if not Path(str(path)).is_file():
        raise UsageError(f"model.refocus_model: {path} is not a file (an exported two-stage refocus .onnx)")
    partner = RefocusSystem(resolve_config("refocus", width, {"model": {"use_gan": False}}))
    warm_start(partner, Path(str(path)), option="model.refocus_model")
    return partner


def _training_blur(config: Config) -> list[float]:
    """The K range (px) of the focal stacks a run trains on, recorded so evaluation and the
    pipelines can match it."""
    return [float(v) for v in config.get("data", {}).get("blur_radius_px", _STACK_DATA["blur_radius_px"])]


def _check_mix(mix: Any) -> tuple[float, float]:
    """``model.radiance_mix`` as ``(lo, hi)`` with 0 <= lo <= hi <= 1."""
    try:
        lo, hi = (float(v) for v in mix)
    except (TypeError, ValueError):
        raise UsageError(f"model.radiance_mix must be [lo, hi], got {mix!r}") from None
    if not 0.0 <= lo <= hi <= 1.0:
        raise UsageError(f"model.radiance_mix needs 0 <= lo <= hi <= 1, got {mix!r}")
    return lo, hi


def _open_radiance_model(path: Any, stages: int, mix: tuple[float, float]) -> Any:
    """An onnxruntime session of the deblur model at ``path`` (one CPU thread), or None."""
    if path is None:
        return None
    if stages != 2:
        raise UsageError("model.radiance_model needs a two-stage G2 (model.stages: 2)")
    if mix[1] > 0:
        raise UsageError("model.radiance_model and model.radiance_mix are two ways to imperfect radiance: use one")
    from defocus_cli.models.resolve import resolve_model
    from defocus_cli.models.session import create_session

    if not Path(str(path)).is_file():
        raise UsageError(f"model.radiance_model: {path} is not a file (an exported deblur .onnx)")
    return create_session(resolve_model(str(path), "deblur"), device="cpu", threads=1)


def _check_deltas(deltas: Any) -> list[int]:
    if (not isinstance(deltas, list | tuple) or not deltas
            or not all(isinstance(d, int) and -MAX_DELTA <= d <= MAX_DELTA for d in deltas)):
        raise UsageError(f"model.deltas must be a list of integers in -9..9, got {deltas!r}")
    return [int(d) for d in deltas]
