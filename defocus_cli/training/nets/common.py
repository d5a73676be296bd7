"""Building blocks shared by the Johnson-style generators and the critics.

Tensors are NCHW float32. :func:`pad_to_multiple` / :func:`crop_to` let a network accept any
H x W during training and tests (reflect padding to its stride, output cropped back); the
exported graphs take sides that are already multiples of the stride, padded by the pipeline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad H and W (bottom/right) up to a multiple of ``multiple``; returns the padded
    tensor and the original (H, W) for :func:`crop_to`."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return x[..., : size[0], : size[1]]


class ResBlock(nn.Module):
    """Residual block after seeds 000/001: conv 3x3, dropout (0.5), InstanceNorm, ReLU, then
    conv 3x3 and InstanceNorm, added to the input. Dropout is active in training only."""

    def __init__(self, channels: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.InstanceNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class VectorToChannel(nn.Module):
    """A conditioning vector (the magnification m, or a one-hot delta) mapped by one fully
    connected layer to a ``side x side`` map (64 x 64 in the seeds), then resized bilinearly to
    the feature map's H x W so it can be appended as one channel at any input size."""

    def __init__(self, in_features: int, side: int = 64) -> None:
        super().__init__()
        self.side = side
        self.fc = nn.Linear(in_features, side * side)

    def forward(self, vector: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        n = vector.shape[0]
        grid = self.fc(vector.reshape(n, -1)).reshape(n, 1, self.side, self.side)
        return F.interpolate(grid, size=like.shape[-2:], mode="bilinear", align_corners=False)


def init_weights(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """pix2pix/DeblurGAN initialisation: conv and linear weights ~ N(0, gain), biases 0, norm
    scales ~ N(1, gain). With a residual (ResOut) generator this starts near the identity."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.InstanceNorm2d | nn.BatchNorm2d) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return module
