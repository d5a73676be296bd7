"""WGAN-GP losses (Gulrajani et al.), as used by seeds 000 and 001 through DeblurGAN.

Critic: ``E[D(fake)] - E[D(real)] + lambda_gp * E[(||grad D(x_hat)||_2 - 1)^2]`` with
``x_hat`` a random interpolate of real and fake (per sample), lambda_gp = 10.
Generator: ``-E[D(fake)]`` (seed 000 Eq. 5, seed 001 Eqs. 5 and 7), computed with the
critic frozen. Conditioning images are concatenated to both real and fake before the critic
(they are not interpolated: they are the same on both sides).
"""

from __future__ import annotations

import torch
from torch import nn

LAMBDA_GP = 10.0


def _judge(critic: nn.Module, image: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
    return critic(image if condition is None else torch.cat([image, condition], dim=1))


def critic_loss(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, condition: torch.Tensor | None = None,
                lambda_gp: float = LAMBDA_GP) -> tuple[torch.Tensor, dict[str, float]]:
    """The critic's WGAN-GP loss (to minimise) and its parts for logging.

    ``fake`` should be detached. Returns ``(loss, {"wasserstein": E[D(real)] - E[D(fake)],
    "gp": penalty})``.
    """
    d_real = _judge(critic, real, condition).mean()
    d_fake = _judge(critic, fake, condition).mean()
    gp = gradient_penalty(critic, real, fake, condition)
    loss = d_fake - d_real + lambda_gp * gp
    return loss, {"wasserstein": (d_real - d_fake).item(), "gp": gp.item()}


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     condition: torch.Tensor | None = None) -> torch.Tensor:
    """``E[(||grad_x D(x_hat)||_2 - 1)^2]`` over random per-sample interpolates ``x_hat``;
    ``D`` is the mean of the critic's patch map."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    # The critic's score of an image is the mean over its patch map (as in the Wasserstein
    # estimate above), so the penalty constrains the gradient of that mean.
    score = _judge(critic, x_hat, condition).flatten(1).mean(1)
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def generator_loss(critic: nn.Module, fake: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
    """``-E[D(fake)]``; freeze the critic before calling (gradients flow only into ``fake``)."""
    return -_judge(critic, fake, condition).mean()
