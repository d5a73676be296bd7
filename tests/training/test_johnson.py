"""Tests for defocus_cli/training/nets/johnson.py, critic.py and common.py."""

from __future__ import annotations

import pytest
import torch

from defocus_cli.training.nets.common import VectorToChannel, pad_to_multiple
from defocus_cli.training.nets.critic import Critic
from defocus_cli.training.nets.johnson import JohnsonGenerator


@pytest.mark.parametrize("size", [(32, 32), (48, 40), (30, 22), (17, 45)])
def test_generator_keeps_any_size_and_rgb_range(size):
    torch.manual_seed(0)
    g = JohnsonGenerator(4, ngf=4, blocks_before=1, blocks_after=1, cond_features=1).eval()
    x = torch.rand(2, 4, *size)
    y = g(x, torch.full((2, 1), 2.0))
    assert y.shape == (2, 3, *size)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_generator_output_is_input_plus_residual():
    torch.manual_seed(0)
    g = JohnsonGenerator(3, ngf=4, blocks_before=1).eval()
    with torch.no_grad():
        g.tail[-2].weight.zero_()
        g.tail[-2].bias.zero_()
    x = torch.rand(1, 3, 24, 28)
    assert torch.equal(g(x), x)  # zero residual -> exactly the input (global skip, ResOut)


def test_generator_conditioning_changes_output_and_is_required():
    torch.manual_seed(0)
    g = JohnsonGenerator(4, ngf=4, blocks_before=1, blocks_after=1, cond_features=1).eval()
    x = torch.rand(1, 4, 32, 32)
    assert not torch.allclose(g(x, torch.full((1, 1), 1.0)), g(x, torch.full((1, 1), 4.0)))
    with pytest.raises(ValueError):
        g(x)


def test_skips_reach_the_decoder_without_new_parameters():
    torch.manual_seed(0)
    plain = JohnsonGenerator(4, ngf=4, blocks_before=1).eval()
    skipped = JohnsonGenerator(4, ngf=4, blocks_before=1, skips=True).eval()
    skipped.load_state_dict(plain.state_dict())  # same modules: checkpoints stay compatible
    a, b = 0.25 + 0.5 * torch.rand(2, 1, 4, 30, 22)
    with torch.no_grad():
        assert skipped(a).shape == (1, 3, 30, 22)
        # With the bottleneck cut, only the skips can carry the input to the residual.
        for g in (plain, skipped):
            g.tail[0].weight.zero_()
            g.tail[0].bias.zero_()
        residual = {name: (g(a) - a[:, :3], g(b) - b[:, :3]) for name, g in (("plain", plain), ("skips", skipped))}
    assert torch.allclose(*residual["plain"], atol=1e-6)
    assert not torch.allclose(*residual["skips"], atol=1e-4)


def test_magnify_layout_appends_m_after_fourth_block():
    g = JohnsonGenerator(4, ngf=8, blocks_before=4, blocks_after=5, cond_features=1)
    assert len(g.before) == 4 and len(g.after) == 5
    assert g.after[0].body[1].in_channels == 4 * 8 + 1  # the appended m channel
    assert g.cond.fc.out_features == 64 * 64
    dropouts = [m for m in g.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 9 and all(d.p == 0.5 for d in dropouts)


def test_vector_to_channel_resizes_to_features():
    v = VectorToChannel(19)
    out = v(torch.eye(19)[:2], torch.zeros(2, 5, 12, 20))
    assert out.shape == (2, 1, 12, 20)


def test_pad_to_multiple_reflects_and_reports_size():
    x = torch.arange(30.0).reshape(1, 1, 5, 6)
    padded, size = pad_to_multiple(x, 4)
    assert padded.shape[-2:] == (8, 8) and size == (5, 6)
    assert torch.equal(padded[..., :5, :6], x)


def test_critic_layers_norm_all_but_last():
    c = Critic(7, ndf=4, n_layers=3)
    convs = [m for m in c.net if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in c.net if isinstance(m, torch.nn.InstanceNorm2d)]
    lrelu = [m for m in c.net if isinstance(m, torch.nn.LeakyReLU)]
    assert len(norms) == len(lrelu) == len(convs) - 1
    assert all(m.negative_slope == 0.2 for m in lrelu)
    assert isinstance(c.net[-1], torch.nn.Conv2d) and c.net[-1].out_channels == 1
    assert c(torch.rand(2, 7, 48, 40)).shape[:2] == (2, 1)
