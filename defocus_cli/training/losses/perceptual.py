"""Content loss of seeds 000/001: perceptual (VGG19) with a documented substitute.

Seeds 000 Eq. 6 and 001 Eq. 6 (after DeblurGAN): the mean squared difference of VGG19
feature maps phi_{3,3} (after the 3rd convolution of the 3rd block, i.e. torchvision's
``vgg19().features[:15]``) between output and target, weighted by lambda_X = 100.

VGG19's ImageNet weights are not shipped. :func:`make_content_loss` loads them from a
torchvision-format state dict (``--vgg19 FILE``: keys ``features.N.weight``/``bias``; the
full ``vgg19`` or just its features). Without a file it returns the substitute,
:class:`MultiScaleL1SSIM`: ``sum over 3 scales (1, 1/2, 1/4) of L1 + (1 - SSIM) / 2`` on sRGB,
a pixel loss that still rewards structure. Its ``description`` goes into the run's notes and
the model card, so every model says which loss trained it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from defocus_cli.errors import UsageError

LAMBDA_X = 100.0
# torchvision vgg19 "features" up to conv3_3 (index 14): (out_channels or "M" for max-pool)
_VGG19_TO_CONV3_3: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Conv33(nn.Module):
    """VGG19 ``features[:15]`` (conv1_1 .. conv3_3, no ReLU after the last), frozen; input
    Nx3xHxW sRGB [0, 1], ImageNet-normalized inside."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for i, v in enumerate(_VGG19_TO_CONV3_3):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(cin, int(v), 3, padding=1))
            if i < len(_VGG19_TO_CONV3_3) - 1:
                layers.append(nn.ReLU(inplace=False))
            cin = int(v)
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.mean) / self.std)

    def load_torchvision(self, path: str | Path) -> None:
        """Load ``features.N.*`` (N <= 14) from a torchvision VGG19 state dict file."""
        p = Path(path)
        if not p.is_file():
            raise UsageError(f"--vgg19 file {p} does not exist")
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is the user's to fix
            raise UsageError(f"cannot read VGG19 weights {p}: {error}") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        wanted = {}
        for key in self.features.state_dict():
            source = f"features.{key}"
            if source not in state:
                raise UsageError(f"{p} is not a torchvision VGG19 state dict (missing {source})")
            wanted[key] = state[source]
        try:
            self.features.load_state_dict(wanted)
        except RuntimeError:
            raise UsageError(f"{p}: tensor shapes do not match torchvision's VGG19") from None


class PerceptualLoss(nn.Module):
    """Mean squared difference of VGG19 conv3_3 features (seed 000 Eq. 6)."""

    def __init__(self, vgg19_path: str | Path) -> None:
        super().__init__()
        self.vgg = VGG19Conv33()
        self.vgg.load_torchvision(vgg19_path)
        self.description = "perceptual: VGG19 conv3_3 feature MSE (weights from --vgg19)"

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.vgg(output), self.vgg(target).detach())


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Local SSIM (box window, C1/C2 for a data range of 1), NxCxHxW."""
    pad = window // 2
    mu_a = F.avg_pool2d(F.pad(a, (pad,) * 4, mode="replicate"), window, 1)
    mu_b = F.avg_pool2d(F.pad(b, (pad,) * 4, mode="replicate"), window, 1)
    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, (pad,) * 4, mode="replicate"), window, 1)
    var_a = pool(a * a) - mu_a**2
    var_b = pool(b * b) - mu_b**2
    cov = pool(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


class MultiScaleL1SSIM(nn.Module):
    """The substitute content loss: ``mean over scales 1, 1/2, 1/4 of L1 + (1 - SSIM) / 2``."""

    description = "substitute: multi-scale L1 + SSIM (no --vgg19 given)"

    def __init__(self, scales: int = 3) -> None:
        super().__init__()
        self.scales = scales

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = output.new_zeros(())
        a, b = output, target.detach()
        for i in range(self.scales):
            if i:
                a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
            window = 7 if min(a.shape[-2:]) >= 7 else 3
            total = total + (a - b).abs().mean() + 0.5 * (1 - ssim_map(a, b, window).mean())
            if min(a.shape[-2:]) < 8:
                return total / (i + 1)
        return total / self.scales


def make_content_loss(vgg19_path: str | Path | None) -> nn.Module:
    """:class:`PerceptualLoss` with ``--vgg19``, else :class:`MultiScaleL1SSIM`; both carry
    a ``description`` for the run's notes."""
    return PerceptualLoss(vgg19_path) if vgg19_path else MultiScaleL1SSIM()
