"""Focus measures in torch (mirrors of :mod:`defocus_cli.ops.focus`) and the focus-measure
loss of seed 000 (Eq. 7).

:func:`composite_focus_measure` and :func:`sml` compute, on NCHW sRGB [0, 1] batches, the
same maps as the numpy ops (same Rec. 709 luma, filters, OpenCV ``BORDER_REFLECT`` borders,
window and saturation constants), so a network can be trained on maps computed on the
device and run at inference on maps computed by ``ops.focus``; the tests hold the two to a
small tolerance. They are differentiable (the loss itself only needs them on the input).

Eq. 7: ``L_f = sum_xy f(I)_xy * ||I'_xy - I_xy||_1``: where the input is in focus
(f high) the output must equal the input. We average over pixels instead of summing (so
lambda_f = 50 does not depend on the crop size) and take the L1 norm over RGB.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from defocus_cli.ops import focus as np_focus

LAMBDA_F = 50.0
_LUMA = (0.2126, 0.7152, 0.0722)


def _sym_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """OpenCV BORDER_REFLECT ("fedcba|abcdef") padding of the last two axes by ``p``."""
    if p == 0:
        return x
    h, w = x.shape[-2:]
    if p > h or p > w:  # tiny inputs: fall back to repeated edge pixels
        return F.pad(x, (p, p, p, p), mode="replicate")
    x = torch.cat([x[..., :p, :].flip(-2), x, x[..., h - p :, :].flip(-2)], dim=-2)
    return torch.cat([x[..., :p].flip(-1), x, x[..., w - p :].flip(-1)], dim=-1)


def _filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    p = max(ph, pw)
    padded = _sym_pad(x, p)
    if ph != p or pw != p:
        padded = padded[..., p - ph : padded.shape[-2] - (p - ph), p - pw : padded.shape[-1] - (p - pw)]
    return F.conv2d(padded, kernel.to(x)[None, None])


def _box(x: torch.Tensor, size: int = np_focus.SML_WINDOW_PX) -> torch.Tensor:
    return _filter(x, torch.full((size, size), 1.0 / (size * size)))


def _gauss(x: torch.Tensor, sigma: float) -> torch.Tensor:
    # OpenCV's kernel size for float images: round(sigma * 4 * 2 + 1) | 1
    k = int(round(sigma * 8 + 1)) | 1
    t = torch.arange(k, dtype=torch.float64) - (k - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = (g / g.sum()).float()
    return _filter(_filter(x, g[None, :]), g[:, None])


def gray(image: torch.Tensor) -> torch.Tensor:
    """Nx1xHxW Rec. 709 luma of an Nx3xHxW (or Nx1xHxW) sRGB batch."""
    if image.ndim != 4 or image.shape[1] not in (1, 3):
        raise ValueError(f"expected Nx3xHxW or Nx1xHxW, got {tuple(image.shape)}")
    if image.shape[1] == 1:
        return image
    w = torch.tensor(_LUMA, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image * w).sum(1, keepdim=True)


def _saturate(raw: torch.Tensor, c: float) -> torch.Tensor:
    raw = raw.clamp_min(0.0)
    return raw / (raw + c)


def _modified_laplacian(g: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([[-1.0, 2.0, -1.0]])
    return _filter(g, k).abs() + _filter(g, k.T).abs()


def sml(image: torch.Tensor) -> torch.Tensor:
    """Sum-of-Modified-Laplacian, Nx1xHxW in [0, 1) (see :func:`defocus_cli.ops.focus.sml`)."""
    return _saturate(_box(_modified_laplacian(gray(image))), np_focus._C_SML)


def composite_focus_measure(image: torch.Tensor) -> torch.Tensor:
    """Composite focus measure, Nx1xHxW in [0, 1] (see ``ops.focus.composite_focus_measure``)."""
    g = gray(image)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4.0
    gx, gy = _filter(g, sobel), _filter(g, sobel.T)
    mean = _box(g)
    lap = _filter(g, torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]))
    dog = _gauss(g, 1.0) - _gauss(g, 2.0)
    raw = {
        "modified_laplacian": _box(_modified_laplacian(g)),
        # eps keeps sqrt differentiable on flat regions
        "tenengrad": torch.sqrt(_box(gx * gx + gy * gy).clamp_min(0.0) + 1e-12) - math.sqrt(1e-12),
        "graylevel_variance": (_box(g * g) - mean * mean).clamp_min(0.0),
        "laplacian_energy": _box(lap * lap),
        "bandpass_energy": _box(dog * dog),
    }
    out = torch.zeros_like(g)
    for name, value in raw.items():
        out = out + np_focus.COMPOSITE_WEIGHTS[name] * _saturate(value, np_focus._CONSTANTS[name])
    return out.clamp(0.0, 1.0)


def focus_measure_loss(output: torch.Tensor, image: torch.Tensor, focus: torch.Tensor) -> torch.Tensor:
    """Seed 000 Eq. 7, averaged over pixels: ``mean_xy f_xy * sum_c |I'_cxy - I_cxy|``.

    ``output`` I' and ``image`` I are Nx3xHxW sRGB; ``focus`` f is Nx1xHxW in [0, 1], the
    composite measure of the input (not differentiated).
    """
    return (focus.detach() * (output - image).abs().sum(1, keepdim=True)).mean()
