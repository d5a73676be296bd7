"""DMENet (seed 002): defocus-map estimation with domain adaptation, as a trainable system.

Networks B, D, C, S (:mod:`defocus_cli.training.nets.dmenet`) are trained jointly (Eqs. 3,
4): each step first updates D on detached ``B_last`` features (synthetic z = 1, real
z = 0), then B and S together with D frozen.

Data:

* synthetic labelled D_S: SYNDOF-style samples (``defocus_cli.data.tasks.syndof_sample``)
  generated on the fly, or a SYNDOF folder (``data.dir``); the label is the CoC radius in
  px of the input image;
* real unlabelled D_R (``data.real_dir``, a folder of photos) switches on domain
  adaptation (L_D, L_adv);
* CUHK-style D_B (``data.cuhk_dir``: images + binary blur masks) switches on domain
  adaptation and sharpness calibration (L_S); its images also count as real for D.

Schedule (§5.1): Adam, lr 1e-4, multiplied by 0.8 every 20 epochs, batch 4. On on-the-fly
data an "epoch" is ``model.epoch_size`` samples (default 8231, the size of SYNDOF), so the
lr drops every ``20 * ceil(epoch_size / batch_size)`` steps.

Without ``model.vgg19`` (``--vgg19 FILE``, a torchvision VGG19 state dict) B's encoder
starts from random weights and L_C uses the documented substitute, a 3-scale L1 + SSIM on
the maps; ``notes`` record which.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from defocus_cli.errors import UsageError
from defocus_cli.models.registry import TensorSpec
from defocus_cli.training.datasets import (
    UNBOUNDED,
    NpzFolderDataset,
    SyntheticDataset,
    sample_rng,
    to_tensor,
)
from defocus_cli.training.losses.dmenet import (
    MAP_LOSSES,
    DMENetWeights,
    adversarial_loss,
    blur_map_loss,
    content_loss,
    discriminator_loss,
    sharpness_loss,
)
from defocus_cli.training.nets.dmenet import (
    STRIDE,
    BlurNet,
    ContentNet,
    DomainDiscriminator,
    RadiusInference,
    SharpnessNet,
    load_vgg19_features,
)
from defocus_cli.training.systems import register_system
from defocus_cli.training.template import (
    Batch,
    Config,
    ExportContract,
    TrainingSystem,
    set_requires_grad,
)


@dataclass(frozen=True)
class DMENetModelConfig:
    """The ``model`` section of a DMENet run."""

    width: int = 16
    convs: tuple[int, ...] = (1, 1, 2, 2, 2)
    refine_blocks: int = 1
    d_width: int = 16
    s_widths: tuple[int, ...] = (16, 16)
    radius_scale_px: float = 8.0
    max_coc_radius_px: float = 10.0
    lr_decay: float = 0.8
    decay_every_epochs: int = 20
    epoch_size: int = 8231
    #: steps over which the lr ramps up from 0 (a fine-tune's fresh Adam moments are noisy)
    warmup_steps: int = 0
    #: per-pixel error of L_B and L_aux: "mse" (Eq. 5), "l1" (the MAE the tables report) or
    #: "quantile" (the pinball loss of ``map_quantile``: below 0.5 the map reads blur low
    #: where it is unsure, as a magnification needs)
    map_loss: str = "mse"
    map_quantile: float = 0.5
    weights: DMENetWeights = field(default_factory=DMENetWeights)
    vgg19: str | None = None

    @classmethod
    def from_dict(cls, model: dict[str, Any]) -> DMENetModelConfig:
        """Validate a ``model`` dict; unknown keys are usage errors."""
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(model) - allowed)
        if unknown:
            raise UsageError(f"unknown dmenet model config keys: {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
        values = dict(model)
        if isinstance(values.get("weights"), dict):
            wkeys = {f.name for f in fields(DMENetWeights)}
            bad = sorted(set(values["weights"]) - wkeys)
            if bad:
                raise UsageError(f"unknown dmenet loss weights: {', '.join(bad)} (known: {', '.join(sorted(wkeys))})")
            values["weights"] = DMENetWeights(**values["weights"])
        for key in ("convs", "s_widths"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        if values.get("map_loss", "mse") not in MAP_LOSSES:
            raise UsageError(f"model.map_loss must be one of {', '.join(MAP_LOSSES)}, got {values['map_loss']!r}")
        quantile = float(values.get("map_quantile", 0.5))
        if not 0.0 < quantile < 1.0:
            raise UsageError(f"model.map_quantile must be within (0, 1), got {values['map_quantile']!r}")
        if quantile != 0.5 and values.get("map_loss") != "quantile":
            raise UsageError("model.map_quantile is for model.map_loss=quantile")
        return cls(**values)


_WIDTHS: dict[str, dict[str, Any]] = {
    # the paper's B is VGG19 at full width (its encoder is initialised from ImageNet VGG19)
    # c_max = 28 px diameter (§5.1), i.e. a 14 px radius
    "paper": {"width": 64, "convs": [2, 2, 4, 4, 4], "refine_blocks": 2, "d_width": 64, "s_widths": [64, 64, 64], "max_coc_radius_px": 14.0},
    "cpu": {"width": 16, "convs": [1, 1, 2, 2, 2], "refine_blocks": 1, "d_width": 16, "s_widths": [16, 16]},
    "tiny": {"width": 4, "convs": [1, 1, 1, 1, 1], "refine_blocks": 1, "d_width": 4, "s_widths": [4]},
}
_CROPS = {"paper": [256, 256], "cpu": [96, 96], "tiny": [32, 32]}


def lr_factor(step: int, steps_per_epoch: int, decay: float = 0.8, every_epochs: int = 20, warmup: int = 0) -> float:
    """Multiplier of the initial lr at ``step``: ``decay ** (epoch // every_epochs)``, ramped
    linearly from 0 over the first ``warmup`` steps."""
    epoch = step // max(1, steps_per_epoch)
    ramp = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    return ramp * decay ** (epoch // every_epochs)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def _fit_crop(rng: np.random.Generator, arrays: list[np.ndarray], crop: tuple[int, int]) -> list[np.ndarray]:
    """A shared random crop; images smaller than the crop are first resized up to cover it."""
    from defocus_cli.data.tasks import random_crop

    return random_crop(rng, arrays, crop)


def folder_images(folder: str) -> list[Path]:
    """Sorted image files under ``folder`` (recursive); an empty or missing folder is a usage error."""
    from defocus_cli.data.readers import IMAGE_SUFFIXES

    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"image folder {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"image folder {root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def real_sampler(folder: str) -> Callable[[np.random.Generator, tuple[int, int]], np.ndarray]:
    """Draw a random crop of a random photo of ``folder`` (D_R: real defocused, unlabelled)."""
    from defocus_cli.data.readers import read_image

    files = folder_images(folder)

    def draw(rng: np.random.Generator, crop: tuple[int, int]) -> np.ndarray:
        return _fit_crop(rng, [_rgb(read_image(files[int(rng.integers(len(files)))]))], crop)[0]

    return draw


def cuhk_sampler(folder: str, white_is_sharp: bool = True) -> Callable[[np.random.Generator, tuple[int, int]], tuple[np.ndarray, np.ndarray]]:
    """Draw a random crop of a CUHK-style pair (D_B): image and binary mask, 1 = blurred.

    Read with :func:`defocus_cli.data.readers.read_cuhk` (``image/`` + ``gt/``; masks mark
    the sharp region white unless ``white_is_sharp`` is False).
    """
    from defocus_cli.data.readers import read_cuhk

    pairs = read_cuhk(folder, white_is_sharp=white_is_sharp)

    def draw(rng: np.random.Generator, crop: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        item = pairs[int(rng.integers(len(pairs)))]
        image, blurred = _fit_crop(rng, [_rgb(item.image), np.asarray(item.blurred, np.float32)], crop)
        return image, (blurred >= 0.5).astype(np.float32)

    return draw


class _SyndofFolder(torch.utils.data.Dataset):
    """A SYNDOF folder (``image/`` + ``blur_map/``) as random crops; item i uses rng (seed, split, i)."""

    def __init__(self, root: str, seed: int, split: str, length: int, transform: Callable[..., dict[str, torch.Tensor]]) -> None:
        from defocus_cli.data.readers import read_syndof

        self.items = read_syndof(root)
        self.seed, self.split, self.length, self.transform = seed, split, length, transform

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = sample_rng(self.seed, self.split, index)
        item = self.items[int(rng.integers(len(self.items)))]
        return self.transform({"image": _rgb(item.image), "coc_radius_px": item.coc_radius_px}, rng)


@register_system
class DMENetSystem(TrainingSystem):
    """DMENet (B, D, C, S). Exported graph: B alone, image -> CoC radius px (§4.1: test uses B)."""

    name = "dmenet"
    task = "defocus-map"
    stride = STRIDE

    @classmethod
    def default_config(cls, width: str = "cpu") -> Config:
        if width not in _WIDTHS:
            raise UsageError(f"unknown width preset {width!r} (one of {', '.join(_WIDTHS)})")
        model = asdict(DMENetModelConfig())
        model.update(_WIDTHS[width])
        model["convs"], model["s_widths"] = list(model["convs"]), list(model["s_widths"])
        return {
            "model": model,
            "data": {"crop": list(_CROPS[width]), "real_dir": None, "cuhk_dir": None, "cuhk_white_is_sharp": True,
                     "lightfield_share": 0.0, "lightfield_size": [128, 256]},
            # §5.1: Adam (default betas), lr 1e-4, batch 4
            "train": {"batch_size": 2 if width == "tiny" else 4, "lr": 1e-4, "betas": [0.9, 0.999]},
        }

    def build(self) -> None:
        cfg = DMENetModelConfig.from_dict(self.model_config)
        self.cfg = cfg
        data = self.config.get("data", {})
        self.use_domain = bool(data.get("real_dir") or data.get("cuhk_dir"))
        self.use_sharpness = bool(data.get("cuhk_dir"))
        self.blur = BlurNet(cfg.width, cfg.convs, cfg.refine_blocks, cfg.radius_scale_px)
        self.content: ContentNet | None = None
        if cfg.vgg19:
            load_vgg19_features(self.blur.features, cfg.vgg19)
            self.content = ContentNet(cfg.width, cfg.convs)
            load_vgg19_features(self.content.features, cfg.vgg19)
            self.notes["content_network"] = "VGG19 relu4_4 from --vgg19 (Eq. 9)"
            self.notes["encoder_init"] = "VGG19 ImageNet weights from --vgg19"
        else:
            self.notes["content_network"] = "substitute: 3-scale L1 + SSIM on the maps (no --vgg19)"
            self.notes["encoder_init"] = "random (no --vgg19)"
        self.notes["domain_adaptation"] = "on" if self.use_domain else "off (no data.real_dir / data.cuhk_dir)"
        self.notes["sharpness_calibration"] = "on" if self.use_sharpness else "off (no data.cuhk_dir)"
        self.notes["output"] = "coc_radius_px: CoC radius in px of the input; DMENet sigma = radius / 2"
        self.discriminator = DomainDiscriminator(self.blur.last_channels, cfg.d_width)
        self.sharpness = SharpnessNet(cfg.s_widths)
        lr = float(self.train_config.get("lr", 1e-4))
        betas = tuple(self.train_config.get("betas", (0.9, 0.999)))
        batch = int(self.train_config.get("batch_size", 4))
        self.steps_per_epoch = max(1, math.ceil(cfg.epoch_size / batch))
        opt_g = torch.optim.Adam([*self.blur.parameters(), *self.sharpness.parameters()], lr=lr, betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas)
        # D's optimiser exists only when D trains (an unused one would be stepped by its scheduler)
        self.optimizers = {"g": opt_g, "d": opt_d} if self.use_domain else {"g": opt_g}
        spe, decay, every, warmup = self.steps_per_epoch, cfg.lr_decay, cfg.decay_every_epochs, cfg.warmup_steps
        self.schedulers = {
            k: torch.optim.lr_scheduler.LambdaLR(o, lambda s: lr_factor(s, spe, decay, every, warmup))
            for k, o in self.optimizers.items()
        }
        self.inputs: Batch = {}
        self.pred: torch.Tensor | None = None

    def set_input(self, batch: Batch) -> None:
        for key in ("image", "coc_radius_px"):
            if key not in batch:
                raise KeyError(f"a dmenet batch needs {key!r}")
        self.inputs = {k: v.to(self.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        h, w = self.inputs["image"].shape[-2:]
        if h % STRIDE or w % STRIDE:
            raise UsageError(f"dmenet training crops must be multiples of {STRIDE}, got {h}x{w}")

    def optimize_parameters(self, step: int) -> dict[str, float]:
        w, x, scale = self.cfg.weights, self.inputs, self.cfg.radius_scale_px
        out_s = self.blur(x["image"])
        # real images count only when the run was configured with their folders (build())
        out_r = self.blur(x["real_image"]) if self.use_domain and "real_image" in x else None
        out_b = self.blur(x["cuhk_image"]) if self.use_domain and "cuhk_image" in x else None
        reals = [o for o in (out_r, out_b) if o is not None]
        logs: dict[str, float] = {}

        if reals:  # Eq. 4: D separates synthetic (1) from real (0) features; only D learns here
            set_requires_grad(self.discriminator, True)
            l_real = torch.stack(
                [discriminator_loss(self.discriminator(o.last_features.detach()), synthetic=False) for o in reals]
            ).mean()
            l_syn = discriminator_loss(self.discriminator(out_s.last_features.detach()), synthetic=True)
            l_d = w.domain * (l_syn + l_real)
            self.optimizers["d"].zero_grad(set_to_none=True)
            l_d.backward()
            self.step(self.optimizers["d"])
            logs["L_d"] = l_d.item()

        # Eq. 3, with D frozen
        set_requires_grad(self.discriminator, False)
        l_b, l_aux = blur_map_loss(out_s, x["coc_radius_px"], scale, w.aux, self.cfg.map_loss,
                                   self.cfg.map_quantile)
        l_c = content_loss(out_s.radius_px / scale, x["coc_radius_px"] / scale, self.content)
        l_g = l_b + w.content * l_c
        logs.update(L_B=l_b.item(), L_aux=l_aux.item(), L_C=l_c.item())
        if out_r is not None:
            l_adv_r = adversarial_loss(self.discriminator(out_r.last_features))
            l_g = l_g + w.adv * l_adv_r
            logs["L_adv_R"] = l_adv_r.item()
        if out_b is not None:
            l_adv_b = adversarial_loss(self.discriminator(out_b.last_features))
            l_s = sharpness_loss(self.sharpness(out_b.radius_px / scale), x["cuhk_blurred"])
            l_g = l_g + w.adv * l_adv_b + w.sharpness * l_s
            logs.update(L_adv_B=l_adv_b.item(), L_S=l_s.item())
        self.optimizers["g"].zero_grad(set_to_none=True)
        l_g.backward()
        self.step(self.optimizers["g"])
        set_requires_grad(self.discriminator, True)
        self.pred = out_s.radius_px.detach()
        logs["L_g"] = l_g.item()
        return logs

    def visuals(self) -> dict[str, torch.Tensor]:
        top = self.cfg.max_coc_radius_px
        out = {"input": self.inputs["image"], "target": (self.inputs["coc_radius_px"] / top).clamp(0, 1)}
        if self.pred is not None:
            out["output"] = (self.pred / top).clamp(0, 1)
        return out

    @torch.no_grad()
    def validation_metrics(self, batch: Batch) -> dict[str, float]:
        """MSE / MAE of the radius map (px^2, px), and MAE of sigma = radius / 2 (px)."""
        was_training = self.training
        self.eval()
        try:
            pred = RadiusInference(self.blur)(batch["image"].to(self.device))
        finally:
            self.train(was_training)
        err = pred - batch["coc_radius_px"].to(self.device)
        return {"mse_px2": float((err**2).mean()), "mae_px": float(err.abs().mean()), "sigma_mae_px": float(err.abs().mean() / 2)}

    def inference_module(self) -> nn.Module:
        return RadiusInference(self.blur)

    def export_contract(self) -> ExportContract:
        return ExportContract(
            inputs=(TensorSpec("image"),),
            outputs=(TensorSpec("coc_radius_px", "NCHW", 1),),
            example=lambda h, w: (torch.rand(1, 3, h, w),),
            preprocessing="srgb01",
            extra={
                "units": "CoC radius in px of the input image (disc PSF); DMENet sigma = radius / 2",
                "training_max_coc_radius_px": self.cfg.max_coc_radius_px,
                "resolution_note": "radius scales with the image: run at the training scale or rescale",
            },
        )

    @classmethod
    def make_dataset(cls, config: Config, split: str) -> torch.utils.data.Dataset:
        """SYNDOF-style items (``image``, ``coc_radius_px``), plus ``real_image`` and
        ``cuhk_image``/``cuhk_blurred`` in the train split when those folders are given."""
        data, model = config.get("data", {}), config.get("model", {})
        crop = tuple(data.get("crop") or _CROPS["cpu"])
        if split != "train" and data.get("val_crop"):
            crop = tuple(data["val_crop"])
        max_radius = float(model.get("max_coc_radius_px", 10.0))
        real = cuhk = None
        if split == "train":
            real = real_sampler(data["real_dir"]) if data.get("real_dir") else None
            cuhk = cuhk_sampler(data["cuhk_dir"], bool(data.get("cuhk_white_is_sharp", True))) if data.get("cuhk_dir") else None

        def transform(sample: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, torch.Tensor]:
            if tuple(sample["image"].shape[:2]) != crop:
                sample = dict(zip(("image", "coc_radius_px"), _fit_crop(rng, [sample["image"], sample["coc_radius_px"]], crop), strict=True))
            item = {"image": to_tensor(sample["image"]), "coc_radius_px": to_tensor(sample["coc_radius_px"])}
            if real is not None:
                item["real_image"] = to_tensor(real(rng, crop))
            if cuhk is not None:
                image, blurred = cuhk(rng, crop)
                item["cuhk_image"], item["cuhk_blurred"] = to_tensor(image), to_tensor(blurred)
            return item

        length = UNBOUNDED if split == "train" else int(data.get("val_samples", 16))
        if data.get("dir") and split == "train":  # validation stays on the held-out synthetic split
            root = Path(data["dir"])
            if (root / "blur_map").is_dir():  # the SYNDOF layout
                return _SyndofFolder(str(root), int(data.get("seed", 0)), split, length, transform)
            # a folder of pre-generated samples (``defocus data synth``)
            return NpzFolderDataset(root, ("image", "coc_radius_px"), seed=int(data.get("seed", 0)), split=split, transform=transform)
        share = float(data.get("lightfield_share") or 0.0) if split == "train" else 0.0
        draw = mixed_sampler(crop, max_radius, share, tuple(data.get("lightfield_size") or (128, 256)))
        return SyntheticDataset(draw, seed=int(data.get("seed", 0)), split=split, length=length, transform=transform)


def mixed_sampler(crop: tuple[int, int], max_radius_px: float, lightfield_share: float,
                  lightfield_size: tuple[int, int]) -> Callable[[np.random.Generator], dict[str, np.ndarray]]:
    """SYNDOF-style samples (Gaussian layers, seed 002 §3), of which ``lightfield_share`` are
    light-field renders instead: a disc PSF with real occlusion, as a lens gives, on a scene
    of a random side in ``lightfield_size`` (cropped to ``crop`` later), so B also sees fine
    texture next to small blur, the regime of a photo at its working scale. Validation stays
    on the SYNDOF-style split (``lightfield_share`` is 0 there)."""
    from defocus_cli.data.tasks import defocus_map_sample, syndof_sample

    if not 0.0 <= lightfield_share <= 1.0:
        raise UsageError(f"data.lightfield_share must be in [0, 1], got {lightfield_share}")
    lo, hi = (int(v) for v in lightfield_size)
    if not min(crop) <= lo <= hi:
        raise UsageError(f"data.lightfield_size must be [lo, hi] with {min(crop)} <= lo <= hi, got {[lo, hi]}")

    def draw(rng: np.random.Generator) -> dict[str, np.ndarray]:
        if lightfield_share and rng.random() < lightfield_share:
            sample = defocus_map_sample(rng, int(rng.integers(lo, hi + 1)), max_coc_radius_px=max_radius_px)
            return {"image": sample["image"], "coc_radius_px": sample["coc_radius_px"]}
        return syndof_sample(rng, crop, max_coc_radius_px=max_radius_px)

    return draw


# ``defocus eval defocus-map`` finds its table through this module (evaluate.TABLE_MODULES).
from defocus_cli.training import eval_dmenet  # noqa: E402, F401
