"""DeepLens networks (Wang et al., SIGGRAPH Asia 2018): depth prediction, lens blur, guided upsampling.

Conventions: images are sRGB in [0, 1]; depth is normalized inverse depth in [0, 1],
1 = nearest; the signed depth is ``D - d_f`` (positive = in front of the focal plane)
scaled by ``alpha = blur_radius_px / max_blur_radius_px`` (§3.2.2: the lens blur is trained
for the largest aperture and a smaller one is set by shrinking the signed depth).

The paper's supplementary layer tables are not available; where it is silent the choices
below are ours and say so.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from defocus_cli.training.nets.resnet import ResNetEncoder


def _conv_relu(in_ch: int, out_ch: int, k: int = 3, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, k, padding=dilation * (k // 2), dilation=dilation),
        nn.ReLU(inplace=True),
    )


def _conv_bn_relu(in_ch: int, out_ch: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, k, padding=k // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _bin_matrix(coords: torch.Tensor, bins: int) -> torch.Tensor:
    """``bins x n`` averaging matrix of adaptive average pooling over ``n`` positions.

    Bin ``i`` covers ``[floor(i n / bins), ceil((i + 1) n / bins))``, as
    ``F.adaptive_avg_pool2d``. ``coords`` is ``0, 1, ..., n - 1`` as float, derived from the
    input tensor so an exported graph keeps H and W dynamic.
    """
    n = coords[-1:] + 1
    i = torch.arange(bins, dtype=coords.dtype, device=coords.device).unsqueeze(1)
    start = torch.floor(i * n / bins)
    end = torch.ceil((i + 1) * n / bins)
    mask = ((coords >= start) & (coords < end)).to(coords.dtype)
    return mask / mask.sum(dim=1, keepdim=True)


def adaptive_avg_pool(x: torch.Tensor, bins: int) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, bins)`` as two matrix products, exportable with dynamic H, W
    (the ONNX exporter refuses adaptive pooling when the input size is not static)."""
    ys = torch.cumsum(torch.ones_like(x[0, 0, :, 0]), 0) - 1
    xs = torch.cumsum(torch.ones_like(x[0, 0, 0, :]), 0) - 1
    ph, pw = _bin_matrix(ys, bins), _bin_matrix(xs, bins)
    return torch.matmul(torch.matmul(ph, x), pw.transpose(0, 1))


class PyramidPooling(nn.Module):
    """PSPNet pyramid pooling: average pools to ``bins x bins`` grids, 1x1 conv, upsample, concat."""

    def __init__(self, in_ch: int, bins: Sequence[int] = (1, 2, 4, 8)) -> None:
        super().__init__()
        self.bins = tuple(bins)
        branch_ch = max(1, in_ch // len(self.bins))
        # no BatchNorm on the pooled bins: a 1x1 bin at batch size 1 has a single value
        self.branches = nn.ModuleList(_conv_relu(in_ch, branch_ch, 1) for _ in self.bins)
        self.out_channels = in_ch + branch_ch * len(self.bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [
            _resize(branch(adaptive_avg_pool(x, b)), size)
            for b, branch in zip(self.bins, self.branches, strict=True)
        ]
        return torch.cat([x, *pooled], dim=1)


class DepthNet(nn.Module):
    """Depth prediction module (§3.1): ResNet encoder, pyramid pooling, 3x up-decoder, two heads.

    Input: Bx3xHxW sRGB in [0, 1]. Output: ``(depth, segmentation)``, each Bx1xHxW in
    [0, 1] (sigmoid): depth is normalized inverse depth before the per-image min-max
    normalization the loss and the export apply (:func:`normalize_minmax`); segmentation
    is the foreground probability. Any H, W: the decoder resizes to the skip sizes, so no
    padding is needed.

    The decoder goes 1/8 -> 1/4 (skip layer1) -> 1/2 (skip conv1) -> 1/1; at full
    resolution the encoder has no feature map, so the skip is a small conv of the image
    (our choice).
    """

    def __init__(
        self,
        width: int = 64,
        blocks: Sequence[int] = (3, 4, 6),
        decoder_ch: Sequence[int] = (256, 128, 64),
        head_ch: int = 32,
        bins: Sequence[int] = (1, 2, 4, 8),
    ) -> None:
        super().__init__()
        if len(decoder_ch) != 3:
            raise ValueError(f"decoder_ch gives the three upsampling levels, got {list(decoder_ch)}")
        self.encoder = ResNetEncoder(width, blocks)
        c1, l1, _, l3 = self.encoder.channels
        self.ppm = PyramidPooling(l3, bins)
        d1, d2, d3 = (int(c) for c in decoder_ch)
        self.bottleneck = _conv_bn_relu(self.ppm.out_channels, d1)
        self.image_skip = _conv_bn_relu(3, max(4, d3 // 2))
        self.up1 = _conv_bn_relu(d1 + l1, d2)
        self.up2 = _conv_bn_relu(d2 + c1, d3)
        self.up3 = _conv_bn_relu(d3 + max(4, d3 // 2), d3)
        self.depth_head = self._head(d3, head_ch)
        self.seg_head = self._head(d3, head_ch)

    @staticmethod
    def _head(in_ch: int, mid: int) -> nn.Sequential:
        # three convolutions per head (§3.1); the sigmoid keeps both maps in [0, 1]
        return nn.Sequential(
            _conv_relu(in_ch, mid), _conv_relu(mid, mid), nn.Conv2d(mid, 1, 3, padding=1)
        )

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c1, l1, _, l3 = self.encoder(image)
        x = self.bottleneck(self.ppm(l3))
        x = self.up1(torch.cat([_resize(x, l1.shape[-2:]), l1], 1))
        x = self.up2(torch.cat([_resize(x, c1.shape[-2:]), c1], 1))
        x = self.up3(torch.cat([_resize(x, image.shape[-2:]), self.image_skip(image)], 1))
        return torch.sigmoid(self.depth_head(x)), torch.sigmoid(self.seg_head(x))


def normalize_minmax(depth: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-image min-max normalization to [0, 1] (§3.1: prediction and ground truth alike)."""
    flat = depth.flatten(1)
    lo = flat.min(dim=1).values.view(-1, 1, 1, 1)
    hi = flat.max(dim=1).values.view(-1, 1, 1, 1)
    return (depth - lo) / (hi - lo + eps)


class LensBlurNet(nn.Module):
    """Lens blur in a learned feature space (§3.2.1, Eq. 2), c = 4 x ``feature_width`` channels.

    Feature extraction: four 3x3 convs with ReLU, applied to each colour channel with shared
    weights; the four intermediate maps are concatenated into ``F_i`` (c channels). The
    dilations 1, 2, 4, 8 are our choice, so the c features see blur up to ~15 px at the low
    resolution. Kernel prediction: convs on ``[signed depth, image]`` give ``K`` (c channels);
    ``L_i = sum_j K_j * F_ij``. Initialised to the identity (:meth:`reset_to_identity`).

    Inputs: image Bx3xhxw sRGB [0, 1]; signed_depth Bx1xhxw, ``alpha * (D - d_f)``.
    Output: Bx3xhxw sRGB shallow-DoF image (not clamped).
    """

    def __init__(
        self,
        feature_width: int = 8,
        kernel_width: int = 64,
        kernel_layers: int = 4,
        dilations: Sequence[int] = (1, 2, 4, 8),
    ) -> None:
        super().__init__()
        if len(dilations) != 4:
            raise ValueError(f"the feature extractor has four convs, got dilations {list(dilations)}")
        self.c = 4 * feature_width
        chans = [1] + [feature_width] * 4
        self.features = nn.ModuleList(
            _conv_relu(chans[i], chans[i + 1], 3, dilations[i]) for i in range(4)
        )
        layers: list[nn.Module] = [_conv_relu(4, kernel_width)]
        for i in range(max(0, kernel_layers - 2)):
            layers.append(_conv_relu(kernel_width, kernel_width, 3, dilations[i % 4]))
        layers.append(nn.Conv2d(kernel_width, self.c, 3, padding=1))
        self.kernel = nn.Sequential(*layers)
        self.reset_to_identity()

    @torch.no_grad()
    def reset_to_identity(self) -> None:
        """Start from L = A (our initialisation; the architecture is unchanged).

        Feature 0 of the first conv passes its colour channel through (centre tap 1; ReLU
        keeps sRGB values), and the kernel predictor starts by selecting that feature
        (last conv: zero weights, bias 1 on channel 0). Training then learns the blur as
        a departure from the sharp image instead of from noise, which shortens the initial
        plateau of the normalized loss several-fold.
        """
        first = self.features[0][0]
        first.weight[0].zero_()
        first.weight[0, 0, 1, 1] = 1.0
        first.bias[0] = 0.0
        last = self.kernel[-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[0] = 1.0

    def extract(self, image: torch.Tensor) -> torch.Tensor:
        """Features ``F`` as Bx3xcxhxw: each colour channel through the shared extractor."""
        b, _, h, w = image.shape
        x = image.reshape(b * 3, 1, h, w)
        maps = []
        for layer in self.features:
            x = layer(x)
            maps.append(x)
        return torch.cat(maps, 1).reshape(b, 3, self.c, h, w)

    def forward(self, image: torch.Tensor, signed_depth: torch.Tensor) -> torch.Tensor:
        feats = self.extract(image)
        kernel = self.kernel(torch.cat([signed_depth, image], 1))
        return (feats * kernel.unsqueeze(1)).sum(2)


class GuidedUpsampler(nn.Module):
    """One x2 guided upsampling step (§3.2.3, Eq. 3): ``H = M_A * A + M_L * up(L)``.

    Low-resolution features come from ``[image, L, signed depth]`` at h x w, high-resolution
    features from the all-in-focus ``A`` at 2h x 2w; the low ones are upsampled bilinearly,
    concatenated, and convs predict ``M_A, M_L``. The two weights pass through a softmax
    (our choice) so a flat region keeps its colour exactly. The same weights serve every
    level, applied recurrently until the target resolution.
    """

    def __init__(self, width: int = 32, layers: int = 3) -> None:
        super().__init__()
        self.low = nn.Sequential(_conv_relu(7, width), _conv_relu(width, width))
        self.high = nn.Sequential(_conv_relu(3, width), _conv_relu(width, width))
        fuse: list[nn.Module] = [_conv_relu(2 * width, width)]
        fuse += [_conv_relu(width, width) for _ in range(max(0, layers - 2))]
        fuse.append(nn.Conv2d(width, 2, 3, padding=1))
        self.fuse = nn.Sequential(*fuse)

    def forward(
        self,
        low_image: torch.Tensor,
        low_dof: torch.Tensor,
        low_signed_depth: torch.Tensor,
        high_image: torch.Tensor,
    ) -> torch.Tensor:
        size = high_image.shape[-2:]
        low = _resize(self.low(torch.cat([low_image, low_dof, low_signed_depth], 1)), size)
        weights = torch.softmax(self.fuse(torch.cat([low, self.high(high_image)], 1)), dim=1)
        return weights[:, :1] * high_image + weights[:, 1:] * _resize(low_dof, size)


def pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``[x, x/2, x/4, ...]`` (``levels + 1`` maps) by 2x2 average pooling, ceil-mode for odd sizes."""
    out = [x]
    for _ in range(levels):
        out.append(F.avg_pool2d(out[-1], 2, ceil_mode=True))
    return out


class DeepLensRenderer(nn.Module):
    """Lens blur at 1/2^levels resolution, then ``levels`` recurrent x2 guided upsamplings.

    Inputs: image Bx3xHxW sRGB [0, 1] (all-in-focus), signed_depth Bx1xHxW (``alpha *
    (D - d_f)``). Returns ``[L, H_1, ..., H_levels]``: the low-resolution DoF image and each
    upsampled level, the last at HxW. Any H, W (odd sizes are handled by ceil pooling).
    """

    def __init__(
        self,
        levels: int = 2,
        feature_width: int = 8,
        kernel_width: int = 64,
        kernel_layers: int = 4,
        upsampler_width: int = 32,
        upsampler_layers: int = 3,
    ) -> None:
        super().__init__()
        self.levels = int(levels)
        self.lens = LensBlurNet(feature_width, kernel_width, kernel_layers)
        self.upsampler = GuidedUpsampler(upsampler_width, upsampler_layers)

    def forward(self, image: torch.Tensor, signed_depth: torch.Tensor) -> list[torch.Tensor]:
        images = pyramid(image, self.levels)
        depths = pyramid(signed_depth, self.levels)
        dof = self.lens(images[-1], depths[-1])
        outputs = [dof]
        for level in range(self.levels, 0, -1):
            dof = self.upsampler(images[level], dof, depths[level], images[level - 1])
            outputs.append(dof)
        return outputs
