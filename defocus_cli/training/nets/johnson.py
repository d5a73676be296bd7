"""The Johnson / DeblurGAN-style generator of seeds 000 (defocus magnification) and 001
(RefocusGAN G1 deblur and G2 refocus).

Layout: reflect-pad + 7x7 conv (``ngf``), two stride-2 3x3 conv blocks (``2ngf``, ``4ngf``),
``blocks_before + blocks_after`` residual blocks at ``4ngf`` (see
:class:`~defocus_cli.training.nets.common.ResBlock`), two stride-2 transposed convs back to
``ngf``, a 7x7 conv to 3 channels and tanh: a residual image in [-1, 1] added to the input's
RGB channels (global skip, "ResOut"), clamped to [0, 1]. Every conv block is conv +
InstanceNorm + ReLU.

Conditioning (``cond_features > 0``): a vector goes through one fully connected layer to a
64 x 64 map, resized to the feature size and appended as one extra channel after residual
block ``blocks_before`` (seed 000: m after the 4th of 4 + 5 blocks; seed 001 G2: the one-hot
delta at the innermost layer, i.e. before the first residual block). The blocks after it run
at ``4ngf + 1`` channels, so the extra channel is carried, not squeezed out.

Stride: 4. Any H x W is accepted (reflect-padded to a multiple of 4 and cropped back); the
exported graph takes multiples of 4.

>>> g = JohnsonGenerator(in_channels=4, ngf=4, blocks_before=1, blocks_after=1, cond_features=1)
>>> g(torch.rand(1, 4, 30, 22), torch.ones(1, 1)).shape
torch.Size([1, 3, 30, 22])
"""

from __future__ import annotations

import torch
from torch import nn

from defocus_cli.training.nets.common import (
    ResBlock,
    VectorToChannel,
    crop_to,
    init_weights,
    pad_to_multiple,
)

STRIDE = 4


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    pad = kernel // 2
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=pad, padding_mode="reflect"),
            nn.InstanceNorm2d(cout), nn.ReLU(inplace=True)]


class JohnsonGenerator(nn.Module):
    """``forward(x, cond=None) -> image``: ``x`` is N x in_channels x H x W whose first three
    channels are the sRGB image the residual is added to; ``cond`` is N x cond_features."""

    def __init__(self, in_channels: int, ngf: int = 64, blocks_before: int = 9, blocks_after: int = 0,
                 cond_features: int = 0, dropout: float = 0.5, cond_side: int = 64, skips: bool = False) -> None:
        super().__init__()
        if in_channels < 3:
            raise ValueError("the generator's first three input channels are the RGB image")
        self.cond_features, self.skips = cond_features, skips
        inner = 4 * ngf
        self.head = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(inplace=True),
            *_conv(ngf, 2 * ngf, 3, 2), *_conv(2 * ngf, inner, 3, 2),
        )
        self.before = nn.Sequential(*[ResBlock(inner, dropout) for _ in range(blocks_before)])
        self.cond = VectorToChannel(cond_features, cond_side) if cond_features else None
        width = inner + (1 if cond_features else 0)
        self.after = nn.Sequential(*[ResBlock(width, dropout) for _ in range(blocks_after)])
        self.tail = nn.Sequential(
            nn.ConvTranspose2d(width, 2 * ngf, 3, stride=2, padding=1, output_padding=1),
            nn.InstanceNorm2d(2 * ngf), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * ngf, ngf, 3, stride=2, padding=1, output_padding=1),
            nn.InstanceNorm2d(ngf), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh(),
        )
        init_weights(self)
        # A small last layer makes the untrained generator start near the identity (output ~
        # input), the right prior for magnify/deblur/refocus where most pixels barely change.
        last = self.tail[-2]
        with torch.no_grad():
            last.weight.mul_(0.1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        padded, size = pad_to_multiple(x, STRIDE)
        # Slices of head/tail by resolution: full (after the 7x7 block), 1/2, 1/4.
        full = self.head[:4](padded)
        half = self.head[4:7](full)
        f = self.before(self.head[7:](half))
        if self.cond is not None:
            if cond is None:
                raise ValueError("this generator needs its conditioning vector")
            f = torch.cat([f, self.cond(cond, f)], dim=1)
        up = self.tail[:3](self.after(f))
        if self.skips:
            up = up + half
        up = self.tail[3:6](up)
        if self.skips:
            up = up + full
        residual = crop_to(self.tail[6:](up), size)
        return torch.clamp(x[:, :3] + residual, 0.0, 1.0)
