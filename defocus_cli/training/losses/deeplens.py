"""DeepLens losses (Wang et al., SIGGRAPH Asia 2018): depth (Eq. 1) and the normalized loss (Eqs. 4-6).

>>> x = torch.zeros(1, 3, 4, 4); y = torch.full_like(x, 0.25)
>>> round(float(normalized_loss(x, y)), 6)  # a uniform error e gives e
0.25
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from defocus_cli.training.nets.deeplens import normalize_minmax

ALPHA = 1.5  # §3.2.4: "empirically set to 1.5"


def depth_loss(
    depth_pred: torch.Tensor,
    seg_pred: torch.Tensor,
    depth_gt: torch.Tensor,
    seg_gt: torch.Tensor,
    gamma: float = 1.0,
    normalize: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """J_d (Eq. 1) = ``|D - D^g|_1 + gamma |S - S^g|_1`` (means); returns ``(J_d, L1_D, L1_S)``.

    Depth is normalized inverse depth; with ``normalize`` both prediction and ground truth
    are min-max normalized per image first (§3.1), so only the ordering and relative spacing
    are supervised. ``gamma`` is not given in the paper; 1.0 by default.
    """
    if normalize:
        depth_pred, depth_gt = normalize_minmax(depth_pred), normalize_minmax(depth_gt)
    l_depth = (depth_pred - depth_gt).abs().mean()
    l_seg = (seg_pred - seg_gt).abs().mean()
    return l_depth + gamma * l_seg, l_depth, l_seg


def normalized_loss(pred: torch.Tensor, target: torch.Tensor, alpha: float = ALPHA, eps: float = 1e-8) -> torch.Tensor:
    """J_f (Eq. 5): ``sum |X - Y|^(alpha+1) / sum |X - Y|^alpha``, an L1 weighted by the error^alpha.

    Large errors (depth-discontinuity boundaries) dominate; a uniform error e gives e. The
    sums run over the whole batch; ``eps`` keeps a perfect prediction finite (loss 0).
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} != target {tuple(target.shape)}")
    err = (pred - target).abs() + eps
    return (err ** (alpha + 1)).sum() / (err**alpha).sum() - eps


def downsample_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-average ``x`` to ``size`` (the low-resolution ground truth for J_f(L))."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.adaptive_avg_pool2d(x, size)


def lens_blur_loss(
    outputs: list[torch.Tensor], target: torch.Tensor, beta: float = 1.0, alpha: float = ALPHA
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 6: ``J_f(L) + beta J_f(H)``; returns ``(total, J_f(L), J_f(H))``.

    ``outputs`` is the renderer's ``[L, ..., H]``; ``target`` the full-resolution sRGB
    shallow-DoF image, area-downsampled to L's size for the first term.
    """
    low, high = outputs[0], outputs[-1]
    j_low = normalized_loss(low, downsample_to(target, tuple(low.shape[-2:])), alpha)
    j_high = normalized_loss(high, target, alpha)
    return j_low + beta * j_high, j_low, j_high
