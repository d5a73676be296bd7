"""The PatchGAN-like WGAN-GP critic of seeds 000/001 (after DeblurGAN).

``n_layers`` stride-2 4x4 convs (widths ``ndf * 2**i`` capped at ``8 ndf``), one stride-1 4x4
conv, and a stride-1 4x4 conv to one channel: a map of patch scores (no sigmoid: a
Wasserstein critic). Every layer but the last is followed by InstanceNorm and
LeakyReLU(0.2), as seed 000 §3.1 states. The critic is conditioned by concatenating the
conditioning images to the judged image along channels (``in_channels`` counts them all).

>>> Critic(in_channels=7, ndf=4, n_layers=2)(torch.rand(2, 7, 32, 24)).shape[:2]
torch.Size([2, 1])
"""

from __future__ import annotations

import torch
from torch import nn

from defocus_cli.training.nets.common import init_weights


class Critic(nn.Module):
    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for i in range(n_layers + 1):
            cout = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(cin, cout, 4, stride=stride, padding=1),
                       nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
