"""DMENet losses (Lee et al., CVPR 2019, Eqs. 3-10).

All map losses work on the *normalized* radius ``radius_px / radius_scale_px`` (the
network's raw output scale), so the paper's lambdas, tuned for maps of order one, keep
their balance whatever the pixel range of the training data.

Probabilities use the logit form of the cross-entropies (Eqs. 7, 8): the same loss, but
finite when the discriminator saturates.

>>> y = torch.rand(1, 1, 8, 8)
>>> float(sharpness_loss(torch.full_like(y, 40.0), torch.ones_like(y)))
0.0
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from defocus_cli.training.nets.dmenet import BlurOutput, ContentNet


@dataclass(frozen=True)
class DMENetWeights:
    """The seed's loss coefficients (§5.1)."""

    adv: float = 1e-3
    domain: float = 1.0
    content: float = 1e-4
    sharpness: float = 2e-2
    aux: float = 1.0


def resize_map(y: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Ground truth at an auxiliary level: area average when shrinking (y_l of Eq. 6)."""
    if tuple(y.shape[-2:]) == tuple(size):
        return y
    return F.adaptive_avg_pool2d(y, size)


def quantile_loss(pred: torch.Tensor, target: torch.Tensor, quantile: float) -> torch.Tensor:
    """Mean pinball loss: minimized by the ``quantile`` of the target given the input, so a
    quantile below 0.5 reads blur low wherever it is uncertain (0.5 gives half the L1)."""
    residual = target - pred
    return torch.maximum(quantile * residual, (quantile - 1.0) * residual).mean()


#: Per-pixel errors :func:`blur_map_loss` can average: the paper's squared error (Eq. 5); the
#: absolute error, whose minimizer is the conditional median rather than the mean, i.e. what
#: the MAE of the evaluation tables rewards; or the pinball loss of a chosen quantile.
MAP_LOSSES = ("mse", "l1", "quantile")


def blur_map_loss(
    out: BlurOutput, target_px: torch.Tensor, radius_scale_px: float, aux_weight: float = 1.0, kind: str = "mse",
    quantile: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L_B (Eq. 5) with the scale-wise auxiliary loss L_aux (Eq. 6); returns ``(L_B, L_aux)``.

    ``target_px``: Bx1xHxW ground-truth CoC radius in px, the size of ``out.radius_px``.
    Both are divided by ``radius_scale_px`` before the error (``kind``, one of
    :data:`MAP_LOSSES`; ``quantile`` is the pinball loss's) is taken.
    """
    if target_px.shape != out.radius_px.shape:
        raise ValueError(f"target {tuple(target_px.shape)} != prediction {tuple(out.radius_px.shape)}")
    if kind not in MAP_LOSSES:
        raise ValueError(f"kind must be one of {MAP_LOSSES}, got {kind!r}")

    def error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if kind == "quantile":
            return quantile_loss(pred, target, quantile)
        return F.l1_loss(pred, target) if kind == "l1" else F.mse_loss(pred, target)

    y = target_px / radius_scale_px
    main = error(out.radius_px / radius_scale_px, y)
    aux = sum(
        (error(a / radius_scale_px, resize_map(y, tuple(a.shape[-2:]))) for a in out.aux),
        start=torch.zeros((), device=y.device),
    )
    return main + aux_weight * aux, aux


def _gaussian_window(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, size, size)


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-pixel SSIM of one-channel maps, Gaussian window 11 / sigma 1.5 (Wang et al. 2004)."""
    size = min(11, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2  # odd
    w = _gaussian_window(size, 1.5, x.device)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mx**2
    syy = F.conv2d(y * y, w) - my**2
    sxy = F.conv2d(x * y, w) - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))


def content_loss(
    pred_norm: torch.Tensor, target_norm: torch.Tensor, content_net: ContentNet | None
) -> torch.Tensor:
    """L_C (Eq. 9) on normalized radius maps (Bx1xHxW).

    With a VGG19 ``content_net`` (weights from ``--vgg19``): squared feature distance at
    relu4_4, summed over channels and averaged over the WlxHl positions. Without one, the
    documented substitute: a 3-scale L1 + (1 - SSIM) on the maps, which likewise penalizes
    a blurry map more than a mean-squared error does.
    """
    if content_net is not None:
        fp, ft = content_net(pred_norm), content_net(target_norm)
        return ((fp - ft) ** 2).sum(1).mean()
    total = torch.zeros((), device=pred_norm.device)
    p, t = pred_norm, target_norm
    for _ in range(3):
        total = total + (p - t).abs().mean()
        if min(p.shape[-2:]) >= 3:
            total = total + (1 - ssim_map(p, t)).mean()
        if min(p.shape[-2:]) < 4:
            break
        p, t = F.avg_pool2d(p, 2), F.avg_pool2d(t, 2)
    return total


def discriminator_loss(logits: torch.Tensor, synthetic: bool) -> torch.Tensor:
    """L_D (Eq. 7): binary cross-entropy of D's logits, z = 1 for synthetic, 0 for real."""
    target = torch.full_like(logits, 1.0 if synthetic else 0.0)
    return F.binary_cross_entropy_with_logits(logits, target)


def adversarial_loss(logits_real: torch.Tensor) -> torch.Tensor:
    """L_adv (Eq. 8): ``-log D(B_last(I_R))``, pushing real features to look synthetic."""
    return F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))


def sharpness_loss(s_logits: torch.Tensor, blurred_mask: torch.Tensor) -> torch.Tensor:
    """L_S (Eq. 10): mean squared difference of ``sigmoid(S(B(I_B)))`` and the binary blur map b.

    ``blurred_mask``: Bx1xHxW, 1 = blurred, 0 = sharp (CUHK convention).
    """
    return ((torch.sigmoid(s_logits) - blurred_mask) ** 2).mean()
