"""DMENet networks (Lee et al., CVPR 2019): blur estimation B, domain D, content C, sharpness S.

Units: B regresses the defocus map directly as the circle-of-confusion *radius in pixels
of its input image*, at the resolution it is run on (DMENet's Gaussian sigma is
``radius / 2``; the paper's labels are ``sigma = c / 4`` with ``c`` the CoC diameter). The
final layer is scaled by ``radius_scale_px`` so its raw output stays O(1) at init; the
losses work on ``radius / radius_scale_px`` so the paper's lambdas keep their balance.

Images are sRGB in [0, 1]; the VGG19-style encoder normalizes with ImageNet statistics
inside, so a torchvision VGG19 state dict initialises it (§4.2) and the frozen content
network C (§4.4).

>>> b = BlurNet(width=4, convs=(1, 1, 1, 1, 1), refine_blocks=1)
>>> out = b(torch.zeros(1, 3, 20, 36))
>>> out.radius_px.shape, len(out.aux), out.last_features.shape[1]
(torch.Size([1, 1, 20, 36]), 4, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from defocus_cli.errors import WeightsError
from defocus_cli.training.nets.resnet import IMAGENET_MEAN, IMAGENET_STD

# torchvision's VGG19 "E" configuration: convs per block, channel multiples of 64.
VGG19_CONVS = (2, 2, 4, 4, 4)
VGG19_MULT = (1, 2, 4, 8, 8)
STRIDE = 16  # four max-pools in B's encoder: inputs are padded to a multiple of this


def _vgg_layers(width: int, convs: Sequence[int], n_blocks: int) -> tuple[nn.Sequential, list[int]]:
    """torchvision-indexed ``features`` (conv, ReLU, ..., MaxPool) and the index ending each block.

    Returns the layers and, per block, the index just after its last ReLU (before its pool),
    so ``features[:end]`` gives that block's output.
    """
    layers: list[nn.Module] = []
    ends: list[int] = []
    in_ch = 3
    for block in range(n_blocks):
        out_ch = width * VGG19_MULT[block]
        for _ in range(convs[block]):
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True)]
            in_ch = out_ch
        ends.append(len(layers))
        if block < 4:
            layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers), ends


def load_vgg19_features(features: nn.Sequential, path: str | Path) -> int:
    """Copy a torchvision-format VGG19 state dict (``features.N.weight``) into ``features``.

    Only the keys ``features`` has are used (the classifier is skipped). Returns the count of
    tensors loaded; raises :class:`WeightsError` with a one-line reason on any mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"--vgg19: no such file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt file raises many types
        raise WeightsError(f"--vgg19: cannot read {path} as a torch state dict ({exc})") from exc
    if not isinstance(state, dict):
        raise WeightsError(f"--vgg19: {path} holds no state dict")
    own = features.state_dict()
    wanted = {}
    for key, param in own.items():
        value = state.get(f"features.{key}")
        if value is None:
            raise WeightsError(
                f"--vgg19: {path} is not a torchvision VGG19 state dict (no features.{key})"
            )
        if tuple(value.shape) != tuple(param.shape):
            raise WeightsError(
                f"--vgg19: features.{key} has shape {tuple(value.shape)}, expected "
                f"{tuple(param.shape)} (ImageNet weights need width 64)"
            )
        wanted[key] = value
    features.load_state_dict(wanted, strict=True)
    return len(wanted)


class _Normalize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _conv_lrelu(in_ch: int, out_ch: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, k, padding=k // 2), nn.LeakyReLU(0.2, inplace=True))


class _ResBlock(nn.Module):
    """Refinement block with a short skip connection (§4.2, after the last up-sampling)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(ch, ch, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.body(x), 0.2)


@dataclass
class BlurOutput:
    """What B returns: the map, the auxiliary maps, and the features D looks at.

    ``radius_px``: Bx1xHxW CoC radius in px (not clamped during training). ``aux``: one
    Bx1xhxw radius map per up-sampling level, coarsest first (A_l outputs, Eq. 6).
    ``last_features``: output of the last up-sampling level (``B_last``, Eq. 7).
    """

    radius_px: torch.Tensor
    aux: list[torch.Tensor]
    last_features: torch.Tensor


class BlurNet(nn.Module):
    """Blur estimation network B (§4.2): VGG19 encoder, U-net decoder, auxiliary heads, refinement.

    Encoder: VGG19's five conv blocks (``convs`` per block, widths ``width * (1,2,4,8,8)``),
    four max-pools. Decoder: four up-sampling levels, each a bilinear x2 resize + conv
    (up-sampling convolution, not deconvolution), concatenated with the encoder skip and two
    convs; each level feeds an auxiliary head A_l (two convs, the first ``aux_width(l)``
    wide). After the last level, ``refine_blocks`` residual blocks and a 3x3 conv give the
    radius map. Input: Bx3xHxW sRGB [0, 1], H and W multiples of :data:`STRIDE` (pad first,
    see :func:`pad_to_stride`).
    """

    def __init__(
        self,
        width: int = 64,
        convs: Sequence[int] = VGG19_CONVS,
        refine_blocks: int = 2,
        radius_scale_px: float = 8.0,
    ) -> None:
        super().__init__()
        if len(convs) != 5:
            raise ValueError(f"convs gives the five VGG19 blocks, got {list(convs)}")
        self.width = width
        self.radius_scale_px = float(radius_scale_px)
        self.normalize = _Normalize()
        self.features, self.block_ends = _vgg_layers(width, convs, 5)
        enc_ch = [width * m for m in VGG19_MULT]
        self.ups = nn.ModuleList()
        self.aux_heads = nn.ModuleList()
        in_ch = enc_ch[4]
        for level in range(4):
            skip_ch = enc_ch[3 - level]
            out_ch = skip_ch
            self.ups.append(
                nn.ModuleDict(
                    {
                        "up": _conv_lrelu(in_ch, out_ch),
                        "fuse": nn.Sequential(_conv_lrelu(out_ch + skip_ch, out_ch), _conv_lrelu(out_ch, out_ch)),
                    }
                )
            )
            # A_l: two convs, the first's width varying with the level (coarse levels wider)
            aux_mid = max(4, out_ch // 2)
            self.aux_heads.append(nn.Sequential(_conv_lrelu(out_ch, aux_mid), nn.Conv2d(aux_mid, 1, 3, padding=1)))
            in_ch = out_ch
        self.last_channels = in_ch
        self.refine = nn.Sequential(*[_ResBlock(in_ch) for _ in range(refine_blocks)])
        self.head = nn.Conv2d(in_ch, 1, 3, padding=1)

    def encode(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The five VGG block outputs (each taken before its pool), full to 1/16 resolution."""
        x = self.normalize(image)
        skips = []
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                skips.append(x)
            x = layer(x)
        skips.append(x)
        return skips

    def forward(self, image: torch.Tensor) -> BlurOutput:
        skips = self.encode(image)
        x = skips[4]
        aux = []
        for level, (block, head) in enumerate(zip(self.ups, self.aux_heads, strict=True)):
            skip = skips[3 - level]
            x = block["up"](F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False))
            x = block["fuse"](torch.cat([x, skip], 1))
            aux.append(head(x) * self.radius_scale_px)
        last = x
        radius = self.head(self.refine(last)) * self.radius_scale_px
        return BlurOutput(radius_px=radius, aux=aux, last_features=last)


def pad_to_stride(x: torch.Tensor, stride: int = STRIDE) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the bottom/right of ``x`` to a multiple of ``stride``; returns it and (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    if ph or pw:
        # reflection needs pad < size; replicate covers tiny inputs
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


class DomainDiscriminator(nn.Module):
    """Domain adaptation network D (§4.3): four stride-2 convs + BN + LeakyReLU, then a 1x1 logit.

    Input: B_last features. Output: Bx1xhxw logits of "synthetic" (z = 1), one per patch.
    """

    def __init__(self, in_ch: int, width: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_ch
        for i in range(4):
            out = width * min(2**i, 8)
            layers += [nn.Conv2d(ch, out, 4, stride=2, padding=1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, inplace=True)]
            ch = out
        layers.append(nn.Conv2d(ch, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class SharpnessNet(nn.Module):
    """Sharpness calibration network S (§4.5): 1x1 convs + BN + LeakyReLU, 1x1 logit.

    1x1 kernels keep S's receptive field a single pixel, so its gradient reaches B only where
    B looked. Input: Bx1xHxW normalized radius map. Output: Bx1xHxW logits of "blurred".
    """

    def __init__(self, widths: Sequence[int] = (64, 64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = 1
        for w in widths:
            layers += [nn.Conv2d(ch, w, 1), nn.BatchNorm2d(w), nn.LeakyReLU(0.2, inplace=True)]
            ch = w
        layers.append(nn.Conv2d(ch, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, radius_map: torch.Tensor) -> torch.Tensor:
        return self.net(radius_map)


class ContentNet(nn.Module):
    """Frozen content network C (§4.4): VGG19 up to ``relu4_4``, the last conv before pool 4.

    One-channel maps are repeated to three channels. Input values are used as given (the
    loss passes normalized radius maps). Always in eval mode with no gradients to its weights.
    """

    def __init__(self, width: int = 64, convs: Sequence[int] = VGG19_CONVS) -> None:
        super().__init__()
        self.features, ends = _vgg_layers(width, convs, 4)
        self.features = self.features[: ends[3]]
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> ContentNet:  # stays frozen
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        return self.features(x)


class RadiusInference(nn.Module):
    """Export wrapper: sRGB image -> CoC radius in px of the input, clamped at 0.

    Input Bx3xHxW sRGB [0, 1] with H, W multiples of :data:`STRIDE` (the caller pads, e.g.
    with :func:`pad_to_stride`, and crops the output); output Bx1xHxW.
    """

    stride = STRIDE

    def __init__(self, blur_net: BlurNet) -> None:
        super().__init__()
        self.blur_net = blur_net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.blur_net(image).radius_px, min=0.0)
