"""Tests for defocus_cli/training/losses/gan.py, focus.py and perceptual.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from defocus_cli.errors import UsageError
from defocus_cli.ops import focus as np_focus
from defocus_cli.training.losses import focus as torch_focus
from defocus_cli.training.losses.gan import critic_loss, generator_loss, gradient_penalty
from defocus_cli.training.losses.perceptual import (
    MultiScaleL1SSIM,
    PerceptualLoss,
    VGG19Conv33,
    make_content_loss,
)


class Linear(torch.nn.Module):
    """D(x) = sum(w * x): its input gradient is w everywhere, so the penalty is known."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1, keepdim=True)


def test_gradient_penalty_known_answer():
    w = torch.full((1, 3, 4, 4), 0.5)  # ||grad|| = 0.5 * sqrt(48)
    real, fake = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    gp = gradient_penalty(Linear(w), real, fake)
    assert float(gp) == pytest.approx((0.5 * 48**0.5 - 1) ** 2, rel=1e-5)


def test_critic_and_generator_losses_signs():
    critic = Linear(torch.ones(1, 3, 4, 4))
    real, fake = torch.ones(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    loss, parts = critic_loss(critic, real, fake, lambda_gp=0.0)
    assert parts["wasserstein"] == pytest.approx(48.0) and float(loss) == pytest.approx(-48.0)
    assert float(generator_loss(critic, fake)) == pytest.approx(0.0)


def test_condition_is_concatenated_not_interpolated():
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen.append(x.shape[1])
            return x.sum(dim=(1, 2, 3), keepdim=True)

    cond = torch.rand(1, 4, 8, 8)
    critic_loss(Spy(), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), cond)
    assert seen == [7, 7, 7]


@pytest.mark.parametrize("name", ["sml", "composite_focus_measure"])
def test_torch_focus_measures_match_numpy_ops(name):
    image = (data.astronaut()[60:124, 180:276] / 255.0).astype(np.float32)  # 64x96, non-square
    expected = getattr(np_focus, name)(image)
    got = getattr(torch_focus, name)(torch.from_numpy(image).permute(2, 0, 1)[None])[0, 0].numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_focus_loss_weights_in_focus_pixels():
    image = torch.zeros(1, 3, 4, 4)
    out = image.clone()
    out[..., 0, 0] = 1.0  # changed pixel: |diff| summed over RGB = 3
    sharp, flat = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    sharp[..., 0, 0] = 1.0
    assert float(torch_focus.focus_measure_loss(out, image, sharp)) == pytest.approx(3 / 16)
    assert float(torch_focus.focus_measure_loss(out, image, flat)) == 0.0


def test_substitute_content_loss_orders_by_quality():
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 40)
    loss = make_content_loss(None)
    assert isinstance(loss, MultiScaleL1SSIM) and "substitute" in loss.description
    assert float(loss(target, target)) == pytest.approx(0.0, abs=1e-6)
    near, far = target + 0.02 * torch.randn_like(target), torch.rand_like(target)
    assert float(loss(near, target)) < float(loss(far, target))


def test_vgg19_loads_torchvision_state_dict(tmp_path):
    torch.manual_seed(0)
    reference = VGG19Conv33()
    state = {f"features.{k}": v for k, v in reference.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(1)  # extra keys of a full vgg19 are ignored
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    loss = PerceptualLoss(path)
    x = torch.rand(1, 3, 32, 32)
    assert torch.allclose(loss.vgg(x), reference(x))
    assert float(loss(x, x)) == 0.0 and "VGG19" in loss.description
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(UsageError):
        PerceptualLoss(tmp_path / "bad.pth")
    with pytest.raises(UsageError):
        PerceptualLoss(tmp_path / "missing.pth")
