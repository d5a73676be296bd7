"""Tests for defocus_cli/training/losses/dmenet.py."""

from __future__ import annotations

import math

import pytest
import torch

from defocus_cli.training.losses.dmenet import (
    DMENetWeights,
    adversarial_loss,
    blur_map_loss,
    content_loss,
    discriminator_loss,
    quantile_loss,
    sharpness_loss,
    ssim_map,
)
from defocus_cli.training.nets.dmenet import BlurOutput, ContentNet


def _output_equal_to(y_px: torch.Tensor) -> BlurOutput:
    aux = [torch.nn.functional.adaptive_avg_pool2d(y_px, (y_px.shape[-2] // s, y_px.shape[-1] // s)) for s in (8, 4, 2, 1)]
    return BlurOutput(radius_px=y_px.clone(), aux=aux, last_features=torch.zeros(1))


def test_blur_map_loss_is_zero_at_the_target_and_matches_eq5() -> None:
    y = torch.rand(2, 1, 16, 24) * 10
    total, aux = blur_map_loss(_output_equal_to(y), y, radius_scale_px=8.0)
    assert float(total) < 1e-10 and float(aux) < 1e-10
    off = _output_equal_to(y)
    off.radius_px = off.radius_px + 4.0  # +0.5 normalized everywhere
    total, aux = blur_map_loss(off, y, radius_scale_px=8.0, aux_weight=1.0)
    assert math.isclose(float(total), 0.25, rel_tol=1e-5) and float(aux) < 1e-10


def test_l1_blur_map_loss_is_the_mean_absolute_error() -> None:
    y = torch.zeros(1, 1, 16, 16)
    out = _output_equal_to(y)
    out.radius_px = out.radius_px.clone()
    out.radius_px[..., :8] = 4.0  # half the pixels off by +0.5 normalized
    out.aux = [a - 8.0 for a in out.aux]  # each level off by -1 normalized
    total, aux = blur_map_loss(out, y, radius_scale_px=8.0, aux_weight=1.0, kind="l1")
    assert math.isclose(float(aux), 4.0) and math.isclose(float(total), 0.25 + 4.0)
    squared, _ = blur_map_loss(out, y, radius_scale_px=8.0, aux_weight=0.0, kind="mse")
    assert math.isclose(float(squared), 0.125)


def test_quantile_loss_weighs_over_and_under_reading_by_the_quantile() -> None:
    y = torch.zeros(1, 1, 16, 16)
    over, under = _output_equal_to(y), _output_equal_to(y)
    over.radius_px, under.radius_px = over.radius_px + 8.0, under.radius_px - 8.0  # +-1 normalized
    for out, expected in ((over, 0.7), (under, 0.3)):
        total, _ = blur_map_loss(out, y, radius_scale_px=8.0, aux_weight=0.0, kind="quantile", quantile=0.3)
        assert math.isclose(float(total), expected, rel_tol=1e-6)
    # The minimizer of the pinball loss over a spread of targets is their quantile.
    targets = torch.arange(10.0)
    costs = [float(quantile_loss(torch.full_like(targets, c), targets, 0.3)) for c in targets]
    assert int(torch.tensor(costs).argmin()) in (2, 3)
    with pytest.raises(ValueError, match="kind"):
        blur_map_loss(over, y, radius_scale_px=8.0, kind="huber")


def test_blur_map_loss_counts_each_auxiliary_level() -> None:
    y = torch.zeros(1, 1, 16, 16)
    out = _output_equal_to(y)
    out.aux = [a + 8.0 for a in out.aux]  # each level off by 1 normalized
    total, aux = blur_map_loss(out, y, radius_scale_px=8.0, aux_weight=0.5)
    assert math.isclose(float(aux), 4.0) and math.isclose(float(total), 2.0)


def test_content_loss_zero_for_equal_maps_positive_for_a_blurred_one() -> None:
    torch.manual_seed(0)
    y = (torch.rand(1, 1, 32, 32) > 0.5).float()
    blurred = torch.nn.functional.avg_pool2d(y, 5, stride=1, padding=2)
    for net in (None, ContentNet(width=4, convs=(1, 1, 1, 1, 1))):
        assert float(content_loss(y, y, net)) < 1e-6
        assert float(content_loss(blurred, y, net)) > 1e-4


def test_ssim_is_one_for_identical_maps() -> None:
    x = torch.rand(1, 1, 20, 20)
    assert torch.allclose(ssim_map(x, x), torch.ones(1), atol=1e-5)


def test_cross_entropies_follow_eqs_7_and_8() -> None:
    half = torch.zeros(1, 1, 2, 2)  # D = 0.5
    assert math.isclose(float(discriminator_loss(half, synthetic=True)), math.log(2), rel_tol=1e-6)
    confident = torch.full((1, 1, 2, 2), 20.0)  # D ~ 1: "synthetic"
    assert float(discriminator_loss(confident, synthetic=True)) < 1e-6
    assert float(discriminator_loss(confident, synthetic=False)) > 19
    assert float(adversarial_loss(confident)) < 1e-6  # real features fooling D cost nothing


def test_sharpness_loss_and_its_gradient() -> None:
    b = torch.tensor([[[[1.0, 0.0]]]])
    logits = torch.zeros(1, 1, 1, 2, requires_grad=True)
    loss = sharpness_loss(logits, b)
    assert math.isclose(float(loss.detach()), 0.25)
    loss.backward()
    assert logits.grad[0, 0, 0, 0] < 0 < logits.grad[0, 0, 0, 1]


def test_paper_lambdas() -> None:
    w = DMENetWeights()
    assert (w.adv, w.domain, w.content, w.sharpness, w.aux) == (1e-3, 1.0, 1e-4, 2e-2, 1.0)
