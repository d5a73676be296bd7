"""DeepLens (seeds 003, 004) as two trainable systems: ``deeplens-depth`` and ``deeplens-blur``.

The paper trains the modules piece-wise (§1): depth on RGB-D data with the auxiliary
foreground segmentation (Eq. 1); lens blur and guided upsampling jointly on synthetic
3-plane composites with the normalized loss (Eqs. 5, 6), fed *corrupted* depth (§4.2,
Table 3: as good as predicted depth, without a second depth network).

Conventions: images sRGB [0, 1]; depth normalized inverse depth [0, 1], 1 = nearest; the
lens-blur input is the signed depth ``alpha * (D - d_f)`` with ``alpha = K / K_max``, ``K``
the sample's blur radius (px per unit of D at the training resolution) and ``K_max =
max_blur_radius_px`` the largest aperture (§3.2.2). The optimiser (the paper says only
"stochastic gradient solver") is Adam at lr 1e-4.

Without ``model.resnet50`` (``--resnet50 FILE``, a torchvision ResNet-50 state dict) the
depth encoder starts from random weights (the documented substitute); ``notes`` record which.

Data: the depth module trains on ``defocus_cli.data.tasks.depth_scene_sample`` (photographic
scenes with a ground plane, sky and objects standing on it, plus a ``data.composite_share``
of the paper's 3-plane composites, an optional ``data.closeup_share`` of close-ups and an
optional ``data.dof_share`` photographed with a shallow depth of field); the
lens blur on ``deeplens_sample`` (3-plane composites with depth, corrupted depth,
segmentation and the light-field shallow-DoF target). Both are generated on the fly, or read
from a folder of pre-generated ``.npz`` samples (``data.dir``). The depth system also reads
a generic RGB-D folder (``defocus_cli.data.readers.read_rgbd_folder``) as ``data.dir``,
pairing each RGB-D crop with a composite for the segmentation term. Validation always uses
the held-out synthetic split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from defocus_cli.data.tasks import DEPTH_CLOSEUP_SHARE, DEPTH_COMPOSITE_SHARE, DEPTH_DOF_SHARE
from defocus_cli.errors import UsageError
from defocus_cli.models.registry import TensorSpec
from defocus_cli.pipelines.depth import SUBJECT_OUTPUT
from defocus_cli.training.datasets import (
    UNBOUNDED,
    NpzFolderDataset,
    SyntheticDataset,
    sample_rng,
    to_tensor,
)
from defocus_cli.training.losses.deeplens import ALPHA, depth_loss, lens_blur_loss
from defocus_cli.training.nets.deeplens import DeepLensRenderer, DepthNet, normalize_minmax
from defocus_cli.training.nets.resnet import load_resnet50_weights
from defocus_cli.training.systems import register_system
from defocus_cli.training.template import (
    Batch,
    Config,
    ExportContract,
    TrainingSystem,
    linear_decay,
)


@dataclass(frozen=True)
class DepthModelConfig:
    """The ``model`` section of a ``deeplens-depth`` run."""

    width: int = 16
    blocks: tuple[int, ...] = (1, 2, 2)
    decoder_ch: tuple[int, ...] = (64, 32, 16)
    head_ch: int = 16
    bins: tuple[int, ...] = (1, 2, 4, 8)
    gamma: float = 1.0
    normalize: bool = True
    resnet50: str | None = None
    # Train the segmentation (subject) head alone, everything before it frozen in eval mode:
    # adds a subject head to a depth export (--init) without changing its depth at all.
    subject_head_only: bool = False


@dataclass(frozen=True)
class BlurModelConfig:
    """The ``model`` section of a ``deeplens-blur`` run (lens blur + guided upsampling)."""

    feature_width: int = 8  # c = 4 x 8 = 32, the paper's choice (Fig. 12)
    kernel_width: int = 32
    kernel_layers: int = 4
    upsampler_width: int = 16
    upsampler_layers: int = 3
    # x2 guided upsamplings after the lens blur. At the cpu width the lens at 1/2 resolution
    # (levels 1) led 1/4 (levels 2) by 1.5 dB at 1 000 steps (32.0 vs 30.6 dB held out).
    levels: int = 1
    max_blur_radius_px: float = 10.0
    beta: float = 1.0
    # Eq. 5's error exponent. The paper's 1.5 (losses.deeplens.ALPHA, the paper preset) left
    # the cpu width near the identity (held-out 27.1 dB after 6 000 steps); 0, a plain L1,
    # reached 30.5 dB in 600.
    alpha: float = 0.0
    depth_input: str = "depth_corrupted"


def _parse(kind: type, name: str, model: dict[str, Any]) -> Any:
    allowed = {f.name for f in fields(kind)}
    unknown = sorted(set(model) - allowed)
    if unknown:
        raise UsageError(f"unknown {name} model config keys: {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in model.items()})


def _preset(kind: type, overrides: dict[str, Any]) -> dict[str, Any]:
    out = asdict(kind())
    out.update(overrides)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


_DEPTH_WIDTHS: dict[str, dict[str, Any]] = {
    # the paper: ResNet-50 conv1..res4f (3, 4, 6 blocks at width 64)
    "paper": {"width": 64, "blocks": (3, 4, 6), "decoder_ch": (256, 128, 64), "head_ch": 32},
    "cpu": {},
    "tiny": {"width": 4, "blocks": (1, 1, 1), "decoder_ch": (16, 8, 8), "head_ch": 8},
}
_BLUR_WIDTHS: dict[str, dict[str, Any]] = {
    # the paper's widths and Eq. 5 exponent; the smaller widths train with a plain L1 (alpha 0)
    "paper": {"kernel_width": 64, "upsampler_width": 32, "alpha": ALPHA, "levels": 2},
    "cpu": {},
    "tiny": {"feature_width": 2, "kernel_width": 8, "kernel_layers": 3, "upsampler_width": 8},
}
_CROPS = {"paper": [256, 256], "cpu": [96, 96], "tiny": [32, 32]}


def _share(data: Config, key: str, default: float) -> float:
    """``data[key]`` as a fraction in [0, 1]; anything else is a usage error."""
    share = float(data.get(key, default))
    if not 0.0 <= share <= 1.0:
        raise UsageError(f"data.{key} must be in [0, 1], got {share}")
    return share


def _check_width(width: str, table: dict[str, Any]) -> None:
    if width not in table:
        raise UsageError(f"unknown width preset {width!r} (one of {', '.join(table)})")


def signed_depth(depth: torch.Tensor, focus_depth: torch.Tensor, blur_radius_px: torch.Tensor, max_blur_radius_px: float) -> torch.Tensor:
    """The lens-blur input ``alpha (D - d_f)``, ``alpha = K / K_max`` (§3.2.2); positive = in front.

    ``depth`` Nx1xHxW; ``focus_depth`` and ``blur_radius_px`` broadcast (N, Nx1 or Nx1x1x1).
    """
    n = depth.shape[0]
    focus = focus_depth.reshape(n, 1, 1, 1)
    k = blur_radius_px.reshape(n, 1, 1, 1)
    return (depth - focus) * (k / max_blur_radius_px)


def _crop_for(config: Config, split: str) -> tuple[int, int]:
    data = config.get("data", {})
    crop = data.get("val_crop") if split != "train" and data.get("val_crop") else data.get("crop")
    h, w = crop or _CROPS["cpu"]
    return int(h), int(w)


def _cropper(keys: tuple[str, ...], crop: tuple[int, int]) -> Any:
    """``transform(sample, rng)``: the same random crop of every spatial key, then tensors."""

    def transform(sample: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        if tuple(np.asarray(sample["image"]).shape[:2]) != crop:
            from defocus_cli.data.tasks import random_crop

            spatial = [k for k in keys if np.asarray(sample[k]).ndim >= 2]
            cropped = random_crop(rng, [np.asarray(sample[k], np.float32) for k in spatial], crop)
            sample = dict(sample) | dict(zip(spatial, cropped, strict=True))
        return {k: to_tensor(sample[k]) for k in keys}

    return transform


def _sample_dataset(config: Config, split: str, keys: tuple[str, ...], sampler_kwargs: dict[str, Any],
                    sampler: str = "deeplens") -> torch.utils.data.Dataset:
    """Data-engine items of ``sampler`` (a key of ``data.tasks.SAMPLERS``; only ``keys`` are
    kept) on the fly, or (train split) a folder of .npz samples."""
    data = config.get("data", {})
    crop = _crop_for(config, split)
    transform = _cropper(keys, crop)
    if data.get("dir") and split == "train":  # validation stays on the held-out synthetic split
        return NpzFolderDataset(data["dir"], keys, seed=int(data.get("seed", 0)), split=split, transform=transform)
    from defocus_cli.data.tasks import SAMPLERS

    make = SAMPLERS[sampler]
    length = UNBOUNDED if split == "train" else int(data.get("val_samples", 16))
    return SyntheticDataset(
        lambda rng: make(rng, crop, **sampler_kwargs),
        seed=int(data.get("seed", 0)), split=split, length=length, transform=transform,
    )


class RgbdWithSegmentation(torch.utils.data.Dataset):
    """Eq. 1's mixed batches: depth from an RGB-D folder, segmentation from the composites.

    Item ``i``: a random crop of a random RGB-D pair (``image``, ``depth``) and a synthetic
    composite (``seg_image``, ``segmentation``), both from rng ``(seed, split, i)``. The
    paper's D^g and S^g likewise come from different datasets in every mini-batch.
    """

    def __init__(self, root: str, crop: tuple[int, int], seed: int, split: str, length: int, depth_kind: str = "disparity") -> None:
        from defocus_cli.data.readers import read_rgbd_folder

        self.items = read_rgbd_folder(root)
        self.crop, self.seed, self.split, self.length, self.depth_kind = crop, seed, split, length, depth_kind

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from defocus_cli.data.tasks import deeplens_sample, random_crop

        rng = sample_rng(self.seed, self.split, index)
        image, depth = self.items[int(rng.integers(len(self.items)))].load(self.depth_kind)
        image, depth = random_crop(rng, [image, depth], self.crop)
        composite = deeplens_sample(rng, self.crop)
        return {
            "image": to_tensor(image), "depth": to_tensor(depth),
            "seg_image": to_tensor(composite["image"]), "segmentation": to_tensor(composite["segmentation"]),
        }


# --------------------------------------------------------------------------- depth


class DepthInference(nn.Module):
    """Export wrapper: sRGB image Bx3xHxW -> ``(depth, subject)``, each Bx1xHxW in [0, 1]:
    normalized inverse depth (1 = nearest) and the segmentation head's probability that a
    pixel belongs to the nearest subject (Eq. 1's S), which automatic focus aims at.

    The per-image min-max normalization is part of the graph (the loss trains it so, §3.1).
    """

    def __init__(self, net: DepthNet, normalize: bool = True) -> None:
        super().__init__()
        self.net = net
        self.normalize = normalize

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        depth, subject = self.net(image)
        return (normalize_minmax(depth) if self.normalize else depth), subject


@register_system
class DeepLensDepthSystem(TrainingSystem):
    """DeepLens depth module (§3.1) trained with Eq. 1 (depth + foreground segmentation)."""

    name = "deeplens-depth"
    task = "depth"
    stride = 8  # the encoder's output stride

    @classmethod
    def default_config(cls, width: str = "cpu") -> Config:
        _check_width(width, _DEPTH_WIDTHS)
        return {
            "model": _preset(DepthModelConfig, _DEPTH_WIDTHS[width]),
            "data": {"crop": list(_CROPS[width]), "depth_kind": "disparity", "composite_share": DEPTH_COMPOSITE_SHARE,
                     "closeup_share": DEPTH_CLOSEUP_SHARE, "dof_share": DEPTH_DOF_SHARE},
            "train": {"batch_size": 2 if width == "tiny" else 4, "lr": 1e-4, "betas": [0.9, 0.999]},
        }

    def build(self) -> None:
        cfg = _parse(DepthModelConfig, self.name, self.model_config)
        self.cfg = cfg
        self.net = DepthNet(cfg.width, cfg.blocks, cfg.decoder_ch, cfg.head_ch, cfg.bins)
        if cfg.resnet50:
            load_resnet50_weights(self.net.encoder, cfg.resnet50)
            self.notes["encoder_init"] = "ResNet-50 ImageNet weights from --resnet50"
        else:
            self.notes["encoder_init"] = "random (no --resnet50)"
        self.notes["gamma"] = f"{cfg.gamma} (Eq. 1 trade-off; the paper gives no value)"
        self.notes["output"] = "depth: normalized inverse depth in [0, 1], 1 = nearest (per-image min-max)"
        trained = self.net.parameters()
        if cfg.subject_head_only:
            self.net.requires_grad_(False)
            self.net.seg_head.requires_grad_(True)
            trained = self.net.seg_head.parameters()
            self.notes["trained"] = "the segmentation (subject) head only; the rest as loaded, frozen"
        opt = torch.optim.Adam(
            trained, lr=float(self.train_config.get("lr", 1e-4)), betas=tuple(self.train_config.get("betas", (0.9, 0.999)))
        )
        self.optimizers = {"depth": opt}
        self.schedulers = {}
        self.inputs: Batch = {}
        self.pred: tuple[torch.Tensor, torch.Tensor] | None = None

    def train(self, mode: bool = True) -> DeepLensDepthSystem:
        super().train(mode)
        if getattr(self, "cfg", None) and self.cfg.subject_head_only:  # frozen BatchNorms keep their statistics
            self.net.eval()
            self.net.seg_head.train(mode)
        return self

    def set_input(self, batch: Batch) -> None:
        for key in ("image", "depth", "segmentation"):
            if key not in batch:
                raise KeyError(f"a deeplens-depth batch needs {key!r}")
        keys = ("image", "depth", "segmentation", "seg_image")
        self.inputs = {k: batch[k].to(self.device) for k in keys if k in batch}

    def optimize_parameters(self, step: int) -> dict[str, float]:
        x = self.inputs
        depth, seg = self.net(x["image"])
        if "seg_image" in x:  # mixed batch: the segmentation labels belong to other images
            _, seg = self.net(x["seg_image"])
        total, l_d, l_s = depth_loss(depth, seg, x["depth"], x["segmentation"], self.cfg.gamma, self.cfg.normalize)
        self.optimizers["depth"].zero_grad(set_to_none=True)
        total.backward()
        self.step(self.optimizers["depth"])
        self.pred = (depth.detach(), seg.detach())
        return {"J_d": total.item(), "L1_depth": l_d.item(), "L1_seg": l_s.item()}

    def visuals(self) -> dict[str, torch.Tensor]:
        out = {"input": self.inputs["image"], "target": normalize_minmax(self.inputs["depth"])}
        if self.pred is not None:
            out["output"] = normalize_minmax(self.pred[0])
            out["segmentation"] = self.pred[1]
        return out

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        """MAE of normalized inverse depth (Table 1's measure, without the spline fit)."""
        was_training = self.training
        self.eval()
        try:
            pred, _ = self.inference_module()(batch["image"].to(self.device))
        finally:
            self.train(was_training)
        gt = normalize_minmax(batch["depth"].to(self.device))
        return {"depth_mae": float((pred - gt).abs().mean())}

    def inference_module(self) -> nn.Module:
        return DepthInference(self.net, self.cfg.normalize)

    def export_contract(self) -> ExportContract:
        return ExportContract(
            inputs=(TensorSpec("image"),),
            outputs=(TensorSpec("depth", "NCHW", 1), TensorSpec(SUBJECT_OUTPUT, "NCHW", 1)),
            example=lambda h, w: (torch.rand(1, 3, h, w),),
            preprocessing="srgb01",
            extra={"units": "normalized inverse depth in [0, 1], 1 = nearest (per-image min-max)",
                   SUBJECT_OUTPUT: "probability in [0, 1] that a pixel belongs to the nearest subject"},
        )

    @classmethod
    def make_dataset(cls, config: Config, split: str) -> torch.utils.data.Dataset:
        """``image``, ``depth``, ``segmentation`` from the composites; with ``data.dir`` an RGB-D
        folder (``image/`` + ``depth/``) supplies the depth, the composites the segmentation."""
        data = config.get("data", {})
        if data.get("dir") and split == "train" and not any(Path(data["dir"]).rglob("*.npz")):
            return RgbdWithSegmentation(
                data["dir"], _crop_for(config, split), int(data.get("seed", 0)), split, UNBOUNDED, str(data.get("depth_kind", "disparity"))
            )
        shares = {key: _share(data, key, default) for key, default in
                  (("composite_share", DEPTH_COMPOSITE_SHARE), ("closeup_share", DEPTH_CLOSEUP_SHARE),
                   ("dof_share", DEPTH_DOF_SHARE))}
        return _sample_dataset(config, split, ("image", "depth", "segmentation"), shares, "depth")


# --------------------------------------------------------------------------- lens blur


class BlurInference(nn.Module):
    """Export wrapper: (sRGB image Bx3xHxW, signed depth Bx1xHxW) -> shallow-DoF sRGB Bx3xHxW.

    The lens blur runs at H/2^levels and the guided upsampler ``levels`` times; the output
    is clamped to [0, 1]. H, W multiples of ``2 ** levels``.
    """

    def __init__(self, renderer: DeepLensRenderer) -> None:
        super().__init__()
        self.renderer = renderer

    def forward(self, image: torch.Tensor, signed_depth: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.renderer(image, signed_depth)[-1], 0.0, 1.0)


@register_system
class DeepLensBlurSystem(TrainingSystem):
    """DeepLens lens blur + guided upsampling (§3.2) trained jointly with Eq. 6."""

    name = "deeplens-blur"
    task = "lens-blur"
    stride = 4  # 2 ** levels for levels <= 2

    @classmethod
    def default_config(cls, width: str = "cpu") -> Config:
        _check_width(width, _BLUR_WIDTHS)
        return {
            "model": _preset(BlurModelConfig, _BLUR_WIDTHS[width]),
            "data": {"crop": list(_CROPS[width]), "blur_radius_px": [2.0, 10.0]},
            # lr decayed over the second half; 1e-3 off the paper's widths (1e-4 learned far slower)
            "train": {"batch_size": 2 if width == "tiny" else 4, "lr": 1e-4 if width == "paper" else 1e-3,
                      "betas": [0.9, 0.999]},
        }

    def build(self) -> None:
        cfg = _parse(BlurModelConfig, self.name, self.model_config)
        if cfg.depth_input not in ("depth", "depth_corrupted"):
            raise UsageError(f"deeplens-blur model.depth_input must be depth or depth_corrupted, got {cfg.depth_input!r}")
        if not 1 <= cfg.levels <= 2:
            # the exported graph's sides are multiples of the class stride, 4 = 2 ** 2
            raise UsageError(f"deeplens-blur model.levels must be 1 or 2 (x2 upsampling steps), got {cfg.levels}")
        k_hi = float(self.config.get("data", {}).get("blur_radius_px", [2.0, 10.0])[1])
        if k_hi > cfg.max_blur_radius_px + 1e-6:
            raise UsageError(
                f"data.blur_radius_px goes up to {k_hi} px but model.max_blur_radius_px is {cfg.max_blur_radius_px}: "
                "the network is trained at the largest aperture, raise max_blur_radius_px"
            )
        self.cfg = cfg
        self.renderer = DeepLensRenderer(
            cfg.levels, cfg.feature_width, cfg.kernel_width, cfg.kernel_layers, cfg.upsampler_width, cfg.upsampler_layers
        )
        self.notes["depth_input"] = f"{cfg.depth_input} (§4.2: corrupted depth makes the lens blur robust)"
        self.notes["signed_depth"] = f"alpha * (D - d_f), alpha = K / {cfg.max_blur_radius_px} px (K: CoC px per unit D)"
        self.notes["feature_channels"] = f"c = {4 * cfg.feature_width}"
        opt = torch.optim.Adam(
            self.renderer.parameters(), lr=float(self.train_config.get("lr", 1e-4)), betas=tuple(self.train_config.get("betas", (0.9, 0.999)))
        )
        self.optimizers = {"blur": opt}
        self.schedulers = {"blur": linear_decay(opt, int(self.train_config.get("steps", 1)))}
        self.inputs: Batch = {}
        self.outputs: list[torch.Tensor] = []

    def _prepare(self, batch: Batch) -> Batch:
        for key in ("image", self.cfg.depth_input, "focus_depth", "blur_radius_px", "target"):
            if key not in batch:
                raise KeyError(f"a deeplens-blur batch needs {key!r}")
        sd = signed_depth(batch[self.cfg.depth_input], batch["focus_depth"], batch["blur_radius_px"], self.cfg.max_blur_radius_px)
        return {"image": batch["image"].to(self.device), "signed_depth": sd.to(self.device), "target": batch["target"].to(self.device)}

    def set_input(self, batch: Batch) -> None:
        self.inputs = self._prepare(batch)

    def optimize_parameters(self, step: int) -> dict[str, float]:
        x = self.inputs
        self.outputs = self.renderer(x["image"], x["signed_depth"])
        total, j_low, j_high = lens_blur_loss(self.outputs, x["target"], self.cfg.beta, self.cfg.alpha)
        self.optimizers["blur"].zero_grad(set_to_none=True)
        total.backward()
        self.step(self.optimizers["blur"])
        return {"J": total.item(), "J_f_L": j_low.item(), "J_f_H": j_high.item()}

    def visuals(self) -> dict[str, torch.Tensor]:
        out = {"input": self.inputs["image"], "target": self.inputs["target"]}
        if self.outputs:
            out["output"] = self.outputs[-1].detach().clamp(0, 1)
        return out

    def predict(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._prepare(batch)
        return BlurInference(self.renderer)(x["image"], x["signed_depth"]), x["target"]

    def inference_module(self) -> nn.Module:
        return BlurInference(self.renderer)

    def export_contract(self) -> ExportContract:
        return ExportContract(
            inputs=(TensorSpec("image"), TensorSpec("signed_depth", "NCHW", 1)),
            outputs=(TensorSpec("output"),),
            example=lambda h, w: (torch.rand(1, 3, h, w), torch.rand(1, 1, h, w) - 0.5),
            preprocessing="srgb01",
            extra={
                "signed_depth": "alpha * (D - d_f): D normalized inverse depth (1 = nearest), d_f the focus, "
                "alpha = K / max_blur_radius_px with K the CoC radius in px per unit of D (K <= max)",
                "max_blur_radius_px": self.cfg.max_blur_radius_px,
                "levels": self.cfg.levels,
            },
        )

    @classmethod
    def make_dataset(cls, config: Config, split: str) -> torch.utils.data.Dataset:
        """Composites with ``image``, depth (true and corrupted), focus, K and the target."""
        k = config.get("data", {}).get("blur_radius_px", [2.0, 10.0])
        keys = ("image", "depth", "depth_corrupted", "focus_depth", "blur_radius_px", "target")
        return _sample_dataset(config, split, keys, {"blur_radius_px": (float(k[0]), float(k[1]))})


# ``defocus eval depth|lens-blur`` find their tables through this module (evaluate.TABLE_MODULES).
from defocus_cli.training import eval_deeplens  # noqa: E402, F401
