"""Tests for defocus_cli/training/nets/resnet.py."""

from __future__ import annotations

import pytest
import torch

from defocus_cli.errors import WeightsError
from defocus_cli.training.nets.resnet import ResNetEncoder, load_resnet50_weights


def test_strides_and_channels_at_non_square_odd_size() -> None:
    enc = ResNetEncoder(width=4, blocks=(1, 2, 1))
    feats = enc(torch.rand(1, 3, 37, 50))
    assert [tuple(f.shape[1:]) for f in feats] == [(4, 19, 25), (16, 10, 13), (32, 5, 7), (64, 5, 7)]
    assert enc.channels == [4, 16, 32, 64]


def test_torchvision_key_names() -> None:
    keys = set(ResNetEncoder(width=4, blocks=(1, 1, 2)).state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight", "layer3.1.conv3.weight"} <= keys
    assert not any(k.startswith(("layer4", "fc")) for k in keys)


def test_loads_a_torchvision_style_file_and_skips_layer4_fc(tmp_path) -> None:
    torch.manual_seed(0)
    source = ResNetEncoder(width=64, blocks=(1, 1, 1))
    state = dict(source.state_dict())
    state["layer4.0.conv1.weight"] = torch.zeros(1)
    state["fc.weight"] = torch.zeros(1000, 2048)
    path = tmp_path / "resnet50.pth"
    torch.save(state, path)
    target = ResNetEncoder(width=64, blocks=(1, 1, 1))
    assert load_resnet50_weights(target, path) == len(source.state_dict())
    assert torch.equal(target.layer3[0].conv2.weight, source.layer3[0].conv2.weight)


def test_wrong_width_missing_and_corrupt_files_are_weights_errors(tmp_path) -> None:
    path = tmp_path / "small.pth"
    torch.save(ResNetEncoder(width=4, blocks=(1, 1, 1)).state_dict(), path)
    with pytest.raises(WeightsError, match="shape"):
        load_resnet50_weights(ResNetEncoder(width=8, blocks=(1, 1, 1)), path)
    with pytest.raises(WeightsError, match="missing"):
        load_resnet50_weights(ResNetEncoder(width=4, blocks=(1, 1, 2)), path)
    with pytest.raises(WeightsError, match="no such file"):
        load_resnet50_weights(ResNetEncoder(width=4, blocks=(1, 1, 1)), tmp_path / "none.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_resnet50_weights(ResNetEncoder(width=4, blocks=(1, 1, 1)), bad)
