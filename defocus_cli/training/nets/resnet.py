"""ResNet-50 encoder (conv1 .. res4f) with an atrous last stage, for the DeepLens depth module.

The layer names follow torchvision's ``resnet50`` state dict (``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer1.0.downsample.0`` ...), so ImageNet weights saved by
torchvision load by name (:func:`load_resnet50_weights`); ``layer4`` and ``fc`` of such a
file are not used. Width and depth come from config: ``width=64, blocks=(3, 4, 6)`` is the
paper's conv1..res4f; smaller values keep the same structure for CPU training.

Strides: conv1 /2, max-pool /4, layer1 /4, layer2 /8, layer3 /8 (its stride is replaced
by dilation 2, the "atrous last block" of DeepLens §3.1, so features keep 1/8 resolution).

>>> enc = ResNetEncoder(width=4, blocks=(1, 1, 1))
>>> [f.shape[1] for f in enc(torch.zeros(1, 3, 32, 48))]
[4, 16, 32, 64]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from defocus_cli.errors import WeightsError

EXPANSION = 4
# ImageNet statistics: the encoder takes sRGB in [0, 1] and normalizes inside, so exported
# models need no preprocessing beyond scaling to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride, dilation) -> 1x1 bottleneck with identity or projection skip."""

    def __init__(
        self, in_ch: int, planes: int, stride: int = 1, dilation: int = 1
    ) -> None:
        super().__init__()
        out_ch = planes * EXPANSION
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _stage(in_ch: int, planes: int, n_blocks: int, stride: int, dilation: int) -> nn.Sequential:
    if n_blocks < 1:
        raise ValueError(f"a ResNet stage needs at least one block, got {n_blocks}")
    layers = [Bottleneck(in_ch, planes, stride=stride, dilation=1 if stride > 1 else dilation)]
    layers += [
        Bottleneck(planes * EXPANSION, planes, dilation=dilation) for _ in range(n_blocks - 1)
    ]
    return nn.Sequential(*layers)


class ResNetEncoder(nn.Module):
    """ResNet conv1..layer3 ("res4f" at the paper's depth), atrous layer3, output stride 8.

    Input: Bx3xHxW sRGB in [0, 1] (any H, W; odd sizes round up through the strides).
    Output: the list ``[conv1 (1/2), layer1 (1/4), layer2 (1/8), layer3 (1/8)]`` of feature
    maps with ``width, 4*width, 8*width, 16*width`` channels.
    """

    def __init__(self, width: int = 64, blocks: Sequence[int] = (3, 4, 6)) -> None:
        super().__init__()
        if len(blocks) != 3:
            raise ValueError(f"blocks gives layer1..layer3 counts, got {list(blocks)}")
        self.width = width
        self.blocks = tuple(int(b) for b in blocks)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _stage(width, width, self.blocks[0], stride=1, dilation=1)
        self.layer2 = _stage(width * 4, width * 2, self.blocks[1], stride=2, dilation=1)
        self.layer3 = _stage(width * 8, width * 4, self.blocks[2], stride=1, dilation=2)

    @property
    def channels(self) -> list[int]:
        """Channels of the four returned feature maps."""
        w = self.width
        return [w, 4 * w, 8 * w, 16 * w]

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = (image - self.mean) / self.std
        c1 = self.relu(self.bn1(self.conv1(x)))
        l1 = self.layer1(self.maxpool(c1))
        l2 = self.layer2(l1)
        l3 = self.layer3(l2)
        return [c1, l1, l2, l3]


def load_resnet50_weights(encoder: ResNetEncoder, path: str | Path) -> int:
    """Load ImageNet weights from a torchvision-format ResNet-50 state dict file.

    Only conv1..layer3 are used (``layer4.*`` and ``fc.*`` are skipped). The encoder must
    have the paper's width (64) and at least as many blocks as it asks for in the file.
    Returns the number of tensors loaded. Raises :class:`WeightsError` with a one-line
    reason when the file is missing, unreadable or does not match.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"--resnet50: no such file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise WeightsError(f"--resnet50: cannot read {path} as a torch state dict ({exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"--resnet50: {path} holds no state dict")
    own = encoder.state_dict()
    wanted = {k: v for k, v in state.items() if k in own}
    missing = [k for k in own if k not in wanted]
    if missing:
        raise WeightsError(
            f"--resnet50: {path} is not a torchvision ResNet-50 state dict "
            f"(missing {len(missing)} tensors, e.g. {missing[0]!r})"
        )
    for key, value in wanted.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise WeightsError(
                f"--resnet50: {key} has shape {tuple(value.shape)} in {path}, the encoder "
                f"expects {tuple(own[key].shape)} (ImageNet weights need width 64)"
            )
    encoder.load_state_dict(wanted, strict=True)
    return len(wanted)
