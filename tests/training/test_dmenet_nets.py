"""Tests for defocus_cli/training/nets/dmenet.py."""

from __future__ import annotations

import pytest
import torch

from defocus_cli.errors import WeightsError
from defocus_cli.training.nets.dmenet import (
    STRIDE,
    BlurNet,
    ContentNet,
    DomainDiscriminator,
    RadiusInference,
    SharpnessNet,
    load_vgg19_features,
    pad_to_stride,
)

TINY = {"width": 4, "convs": (1, 1, 1, 1, 1), "refine_blocks": 1}


def test_blur_net_shapes_at_non_square_size_after_padding() -> None:
    net = BlurNet(**TINY)
    image, (h, w) = pad_to_stride(torch.rand(2, 3, 21, 38))
    assert (h, w) == (21, 38) and tuple(image.shape[-2:]) == (32, 48)
    out = net(image)
    assert out.radius_px.shape == (2, 1, 32, 48)
    assert [tuple(a.shape[-2:]) for a in out.aux] == [(4, 6), (8, 12), (16, 24), (32, 48)]
    assert out.last_features.shape == (2, net.last_channels, 32, 48)
    logits = DomainDiscriminator(net.last_channels, width=4)(out.last_features)
    assert logits.shape == (2, 1, 2, 3)
    assert SharpnessNet((4, 4))(out.radius_px).shape == (2, 1, 32, 48)


def test_pad_to_stride_reflects_and_keeps_multiples() -> None:
    x = torch.arange(13.0).view(1, 1, 1, 13).expand(1, 1, 16, 13)
    padded, size = pad_to_stride(x)
    assert size == (16, 13) and padded.shape[-1] == STRIDE
    assert torch.equal(padded[..., :13], x)
    assert padded[0, 0, 0, 13] == x[0, 0, 0, 11]  # reflection, not zeros
    tiny, _ = pad_to_stride(torch.ones(1, 1, 3, 5))  # too small to reflect: replicated
    assert tiny.shape[-2:] == (STRIDE, STRIDE) and torch.equal(tiny, torch.ones_like(tiny))


def test_blur_net_encoder_uses_torchvision_vgg19_indices() -> None:
    keys = set(BlurNet(width=4).features.state_dict())
    # conv1_1 .. conv5_4 of torchvision's vgg19.features
    conv_indices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    assert keys == {f"{i}.{p}" for i in conv_indices for p in ("weight", "bias")}


def test_vgg19_weights_load_by_name_and_bad_files_fail(tmp_path) -> None:
    torch.manual_seed(0)
    source = BlurNet(width=4)
    path = tmp_path / "vgg19.pth"
    state = {f"features.{k}": v for k, v in source.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(3, 3)
    torch.save(state, path)
    content = ContentNet(width=4)
    assert load_vgg19_features(content.features, path) == 24  # 12 convs up to relu4_4
    assert torch.equal(content.features[25].weight, source.features[25].weight)
    target = BlurNet(width=4)
    assert load_vgg19_features(target.features, path) == 32
    with pytest.raises(WeightsError, match="shape"):
        load_vgg19_features(BlurNet(width=8).features, path)
    with pytest.raises(WeightsError, match="no such file"):
        load_vgg19_features(target.features, tmp_path / "missing.pth")


def test_content_net_is_frozen_and_stays_in_eval() -> None:
    c = ContentNet(width=4, convs=(1, 1, 1, 1, 1))
    c.train()
    assert not c.training and not any(p.requires_grad for p in c.parameters())
    x = torch.rand(1, 1, 16, 24, requires_grad=True)
    feats = c(x)
    assert feats.shape == (1, 32, 2, 3)
    feats.sum().backward()
    assert x.grad is not None  # gradients still reach the map being judged


def test_radius_inference_is_non_negative_and_keeps_size() -> None:
    wrapper = RadiusInference(BlurNet(**TINY)).eval()
    with torch.no_grad():
        out = wrapper(torch.rand(1, 3, 16, 48))
    assert out.shape == (1, 1, 16, 48) and float(out.min()) >= 0.0
