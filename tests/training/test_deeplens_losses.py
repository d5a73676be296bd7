"""Tests for defocus_cli/training/losses/deeplens.py."""

from __future__ import annotations

import math

import torch

from defocus_cli.training.losses.deeplens import depth_loss, lens_blur_loss, normalized_loss


def test_normalized_loss_known_answers() -> None:
    y = torch.rand(1, 3, 8, 8)
    assert abs(float(normalized_loss(y, y))) < 1e-6
    assert math.isclose(float(normalized_loss(y + 0.2, y)), 0.2, rel_tol=1e-4)
    # two errors 1 and 3: (1 + 3^2.5) / (1 + 3^1.5), closer to the large one than L1's 2
    x = torch.tensor([1.0, 3.0])
    expected = (1 + 3**2.5) / (1 + 3**1.5)
    assert math.isclose(float(normalized_loss(x, torch.zeros(2))), expected, rel_tol=1e-5)
    assert expected > 2.0


def test_normalized_loss_gradient_flows_and_is_finite_at_zero_error() -> None:
    y = torch.rand(1, 1, 4, 4)
    x = y.clone().requires_grad_(True)
    normalized_loss(x, y).backward()
    assert torch.isfinite(x.grad).all()
    x2 = (y + 0.1).requires_grad_(True)
    normalized_loss(x2, y).backward()
    assert float(x2.grad.sum()) > 0


def test_depth_loss_eq1_is_scale_invariant_with_normalization() -> None:
    gt = torch.rand(2, 1, 8, 8)
    seg = (gt > 0.5).float()
    total, l_d, l_s = depth_loss(0.5 * gt + 0.2, seg, gt, seg, gamma=2.0)
    assert float(total) < 1e-5 and float(l_d) < 1e-5 and float(l_s) == 0.0
    total, l_d, l_s = depth_loss(gt, 1 - seg, gt, seg, gamma=2.0, normalize=False)
    assert math.isclose(float(total), 2.0) and math.isclose(float(l_s), 1.0)


def test_lens_blur_loss_eq6_downsamples_the_target_for_L() -> None:
    target = torch.rand(1, 3, 16, 16)
    low = torch.nn.functional.avg_pool2d(target, 4)
    total, j_low, j_high = lens_blur_loss([low, target], target, beta=1.0)
    assert float(total) < 1e-5
    total, j_low, j_high = lens_blur_loss([low, target + 0.1], target, beta=2.0)
    assert float(j_low) < 1e-5 and math.isclose(float(total), 0.2, rel_tol=1e-3)
