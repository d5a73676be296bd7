"""Tests for defocus_cli/training/nets/deeplens.py."""

from __future__ import annotations

import torch

from defocus_cli.training.nets.deeplens import (
    DeepLensRenderer,
    DepthNet,
    GuidedUpsampler,
    LensBlurNet,
    PyramidPooling,
    normalize_minmax,
    pyramid,
)


def test_depth_net_shapes_and_ranges_at_odd_non_square_size() -> None:
    net = DepthNet(width=4, blocks=(1, 1, 1), decoder_ch=(16, 8, 8), head_ch=8)
    depth, seg = net(torch.rand(2, 3, 29, 43))
    assert depth.shape == seg.shape == (2, 1, 29, 43)
    assert float(depth.detach().min()) >= 0.0 and float(depth.detach().max()) <= 1.0


def test_pyramid_pooling_bins_and_channels() -> None:
    ppm = PyramidPooling(16, bins=(1, 2, 4, 8))
    out = ppm(torch.rand(1, 16, 5, 9))
    assert out.shape == (1, ppm.out_channels, 5, 9) and ppm.out_channels == 16 + 4 * 4


def test_normalize_minmax_per_image() -> None:
    x = torch.stack([torch.linspace(2, 4, 12).view(1, 3, 4), torch.linspace(-1, 0, 12).view(1, 3, 4)])
    n = normalize_minmax(x)
    assert torch.allclose(n.flatten(1).min(1).values, torch.zeros(2))
    assert torch.allclose(n.flatten(1).max(1).values, torch.ones(2), atol=1e-5)


def test_lens_blur_has_c_feature_channels_per_colour_and_eq2_product() -> None:
    net = LensBlurNet(feature_width=8, kernel_width=16, kernel_layers=3)
    assert net.c == 32
    image = torch.rand(1, 3, 12, 20)
    feats = net.extract(image)
    assert feats.shape == (1, 3, 32, 12, 20)
    signed = torch.rand(1, 1, 12, 20) - 0.5
    kernel = net.kernel(torch.cat([signed, image], 1))
    expected = torch.einsum("bcjhw,bjhw->bchw", feats, kernel)
    assert torch.allclose(net(image, signed), expected, atol=1e-5)


def test_guided_upsampler_weights_are_a_convex_mix() -> None:
    up = GuidedUpsampler(width=8)
    grey = torch.full((1, 3, 8, 8), 0.3)
    out = up(grey[..., ::2, ::2], grey[..., ::2, ::2], torch.zeros(1, 1, 4, 4), grey)
    assert out.shape == (1, 3, 8, 8)
    assert torch.allclose(out, grey, atol=1e-6)  # flat colour in, same colour out


def test_renderer_levels_and_odd_sizes() -> None:
    r = DeepLensRenderer(levels=2, feature_width=4, kernel_width=8, kernel_layers=3, upsampler_width=8)
    outs = r(torch.rand(1, 3, 30, 45), torch.rand(1, 1, 30, 45))
    assert [tuple(o.shape[-2:]) for o in outs] == [(8, 12), (15, 23), (30, 45)]
    assert [tuple(p.shape[-2:]) for p in pyramid(torch.zeros(1, 1, 30, 45), 2)] == [(30, 45), (15, 23), (8, 12)]


def test_exportable_adaptive_pool_matches_torch() -> None:
    from torch.nn.functional import adaptive_avg_pool2d

    from defocus_cli.training.nets.deeplens import adaptive_avg_pool

    for h, w in [(5, 9), (12, 7), (1, 2), (16, 16)]:
        x = torch.rand(2, 3, h, w)
        for bins in (1, 2, 4, 8):
            assert torch.allclose(adaptive_avg_pool(x, bins), adaptive_avg_pool2d(x, bins), atol=1e-6)


def test_lens_blur_starts_as_the_identity() -> None:
    net = LensBlurNet(feature_width=4, kernel_width=8, kernel_layers=3)
    image = torch.rand(2, 3, 10, 14)
    with torch.no_grad():
        assert torch.allclose(net(image, torch.rand(2, 1, 10, 14) - 0.5), image, atol=1e-6)
