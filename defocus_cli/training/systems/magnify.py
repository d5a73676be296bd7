"""Defocus magnification cGAN (seed 000) as a trainable system, ``defocus train magnify``.

Generator: RGBF input (sRGB narrow-aperture image + its composite focus measure F, from
:func:`defocus_cli.ops.focus.composite_focus_measure`), the magnification m through a fully
connected layer to a 64x64 channel appended after the 4th of 4 + 5 residual blocks, output =
input RGB + residual (Eq. 4). Critic: the output alone, as in Eq. 5. Loss (Eq. 8):
``L_cGAN + 100 L_X + 50 L_f``; ``model.loss_config`` picks the seed's Table 1 ablations:
1 = without L_cGAN, 2 = without L_X, 3 = without L_f, 4 = all three (default).

Data: :func:`defocus_cli.data.tasks.magnify_sample` on the fly (narrow image at blur radius K ~ U(1.5, 5) px,
wide at m*K, m ~ U(1, 4)), rotated by a random multiple of 90 degrees when the crop is square
(§3.2); or a folder of ``.npz`` samples with keys ``narrow``, ``wide``, ``m``.

Exported graph: inputs ``image`` (Nx3xHxW sRGB [0, 1]), ``focus`` (Nx1xHxW, composite focus
measure of ``image``), ``m`` (Nx1, in [1, 4]); output ``output`` (Nx3xHxW sRGB [0, 1]).
H and W multiples of 4.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from defocus_cli.data.tasks import magnify_sample
from defocus_cli.errors import UsageError
from defocus_cli.models.registry import TensorSpec
from defocus_cli.ops.focus import composite_focus_measure
from defocus_cli.training.datasets import (
    UNBOUNDED,
    NpzFolderDataset,
    SyntheticDataset,
    random_crop_pair,
    to_tensor,
)
from defocus_cli.training.nets.johnson import JohnsonGenerator
from defocus_cli.training.systems import register_system
from defocus_cli.training.systems.gan import WGANImageSystem, gan_config
from defocus_cli.training.template import Batch, Config, ExportContract

#: Seed 000 Table 1: which generator losses each configuration uses (gan, content, focus).
LOSS_CONFIGS: dict[int, tuple[bool, bool, bool]] = {
    1: (False, True, True),
    2: (True, False, True),
    3: (True, True, False),
    4: (True, True, True),
}


class MagnifyGraph(nn.Module):
    """The exported graph: ``(image, focus, m) -> output``."""

    def __init__(self, generator: JohnsonGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, image: torch.Tensor, focus: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return self.generator(torch.cat([image, focus], dim=1), m)


def _item(narrow: np.ndarray, wide: np.ndarray, m: float, rng: np.random.Generator, crop: tuple[int, int] | None,
          rotate: bool) -> dict[str, torch.Tensor]:
    if crop is not None and narrow.shape[:2] != tuple(crop):
        narrow, wide = random_crop_pair(rng, [narrow, wide], crop)
    if rotate and narrow.shape[0] == narrow.shape[1]:
        k = int(rng.integers(0, 4))
        narrow, wide = np.rot90(narrow, k), np.rot90(wide, k)
    narrow = np.ascontiguousarray(narrow, np.float32)
    return {"image": to_tensor(narrow), "focus": to_tensor(composite_focus_measure(narrow)),
            "m": to_tensor(np.float32(m)), "target": to_tensor(np.ascontiguousarray(wide, np.float32))}


@register_system
class MagnifySystem(WGANImageSystem):
    name = "magnify"
    task = "magnify"

    @classmethod
    def default_config(cls, width: str = "cpu") -> Config:
        blocks = {"paper": (4, 5), "cpu": (4, 5), "tiny": (1, 1)}[width]
        crop = {"paper": [256, 256], "cpu": [96, 96], "tiny": [32, 32]}[width]
        return gan_config(
            width,
            {"blocks_before": blocks[0], "blocks_after": blocks[1], "loss_config": 4, "use_focus": True},
            data={"crop": crop, "m_range": [1.0, 4.0], "blur_radius_px": [1.5, 5.0], "rotate": True},
            train={"batch_size": {"paper": 1, "cpu": 4, "tiny": 2}[width]},
        )

    def build(self) -> None:
        m = self.model_config
        if m["loss_config"] not in LOSS_CONFIGS:
            raise UsageError(f"model.loss_config must be 1, 2, 3 or 4 (seed 000 Table 1), got {m['loss_config']!r}")
        m["use_gan"], m["use_content"], m["use_focus"] = LOSS_CONFIGS[m["loss_config"]]
        super().build()
        self.notes["loss_config"] = f"{m['loss_config']} (gan={m['use_gan']}, content={m['use_content']}, focus={m['use_focus']})"

    def make_generator(self) -> JohnsonGenerator:
        m = self.model_config
        return JohnsonGenerator(4, m["ngf"], m["blocks_before"], m["blocks_after"], cond_features=1,
                                dropout=m["dropout"], skips=bool(m["skips"]))

    def critic_in_channels(self) -> int:
        return 3

    def generator_inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        return torch.cat([batch["image"], batch["focus"]], dim=1), batch["m"].reshape(-1, 1)

    def inference_module(self) -> nn.Module:
        return MagnifyGraph(self.generator).eval()

    def export_contract(self) -> ExportContract:
        return ExportContract(
            inputs=(TensorSpec("image", "NCHW", 3), TensorSpec("focus", "NCHW", 1), TensorSpec("m", "NC", 1)),
            outputs=(TensorSpec("output", "NCHW", 3),),
            example=lambda h, w: (torch.rand(1, 3, h, w), torch.rand(1, 1, h, w), torch.full((1, 1), 2.0)),
            extra={"focus_channel": "defocus_cli.ops.focus.composite_focus_measure", "m_range": [1.0, 4.0]},
        )

    @classmethod
    def make_dataset(cls, config: Config, split: str) -> torch.utils.data.Dataset:
        data = config["data"]
        crop = tuple(data["crop"] if split == "train" else (data.get("val_crop") or data["crop"]))
        rotate = bool(data.get("rotate", True)) and split == "train"
        if data.get("dir") and split == "train":  # validation stays on the held-out synthetic split
            def from_file(s: dict[str, Any], rng: np.random.Generator) -> dict[str, torch.Tensor]:
                return _item(s["narrow"], s["wide"], float(s["m"]), rng, crop, rotate)
            return NpzFolderDataset(data["dir"], ("narrow", "wide", "m"), seed=data["seed"], split=split, transform=from_file)

        def sample(rng: np.random.Generator) -> dict[str, Any]:
            return magnify_sample(rng, crop, m_range=tuple(data["m_range"]), blur_radius_px=tuple(data["blur_radius_px"]))

        def transform(s: dict[str, Any], rng: np.random.Generator) -> dict[str, torch.Tensor]:
            return _item(s["narrow"], s["wide"], float(s["m"]), rng, None, rotate)

        length = UNBOUNDED if split == "train" else int(data["val_samples"])
        return SyntheticDataset(sample, seed=data["seed"], split=split, length=length, transform=transform)
