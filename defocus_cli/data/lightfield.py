"""The reference light-field renderer: shift-and-sum over a circular aperture, with occlusion.

A view at aperture position (u, v) (unit disc) sees a layer at disparity D shifted by
``K * (u, v) * (D - D_focus)`` pixels; layers are composited back to front in each view, and
the image is the average of the views in **linear light** (seed 001, Eq. 9). A point at D
thus renders as a disc of radius ``K * |D - D_focus|`` px (the CoC of ``ops.lens``).

Smooth blur without ghost copies, at a cost that does not explode with the radius: the
aperture is split into a grid of cells, and each layer is pre-filtered over each cell (the
cell's part of the disc kernel: the integral of its shifts over the cell). Within a cell the
layers are composited after that small blur; across cells occlusion is exact. Because the
cells tile the aperture, a single layer gets exactly the full disc kernel, and an in-focus
layer is exactly unchanged. Slanted layers are split into a few disparity slabs with hat
weights (a partition of unity), each blurred at its own radius.

Example::

    scene = random_scene(np.random.default_rng(0), (128, 128))
    out = render(scene, focus_disparity=0.5, blur_radius_px=6.0)
    out.image.shape, out.coc_radius_px.dtype   # ((128, 128, 3), dtype('float32'))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from defocus_cli.data.scene import Layer, Scene
from defocus_cli.ops.checks import check_image, check_map
from defocus_cli.ops.color import linear_to_srgb
from defocus_cli.ops.lens import signed_coc_radius

_QUANT = 64.0  # kernels are cached per 1/64 px of signed radius


@dataclass
class Render:
    """What one render returns; all float32.

    image: HxWx3 sRGB in [0, 1], the shift-and-sum over the aperture.
    all_in_focus: HxWx3 sRGB in [0, 1], the centre (pinhole) view.
    disparity: HxW, D of the visible surface in the centre view (front-most layer with alpha >= 0.5).
    coc_radius_px: HxW, signed CoC radius ``K * (D - D_focus)`` px, positive in front.
    """

    image: np.ndarray
    all_in_focus: np.ndarray
    disparity: np.ndarray
    coc_radius_px: np.ndarray


@dataclass(frozen=True)
class _CellKernel:
    cell: int
    ty0: int
    tx0: int
    kernel: np.ndarray  # correlation kernel, sums to 1; tap (i, j) reads src[y + ty0 + i, x + tx0 + j]


@lru_cache(maxsize=32)
def _cell_layout(grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area fraction and centroid (u, v) of each aperture cell (grid*grid ids, row-major).

    Measured once per grid on a fine sampling of the disc, so every layer of a render uses
    the same cells with the same weights.
    """
    m = max(512, 64 * grid)
    coords = (np.arange(m) + 0.5) / m * 2 - 1
    u, v = np.meshgrid(coords, coords)
    inside = u * u + v * v <= 1.0
    u, v = u[inside], v[inside]
    cell = _cell_of(u, v, grid)
    counts = np.bincount(cell, minlength=grid * grid).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        cu = np.bincount(cell, weights=u, minlength=grid * grid) / counts
        cv = np.bincount(cell, weights=v, minlength=grid * grid) / counts
    return counts / u.size, np.nan_to_num(cu), np.nan_to_num(cv)


def _cell_of(u: np.ndarray, v: np.ndarray, grid: int) -> np.ndarray:
    return (np.clip(((v + 1) / 2 * grid).astype(int), 0, grid - 1) * grid
            + np.clip(((u + 1) / 2 * grid).astype(int), 0, grid - 1))


@lru_cache(maxsize=8192)
def _cell_kernels(radius_q: int, grid: int) -> tuple[_CellKernel, ...]:
    """Per-cell kernels of a layer whose views shift by ``s * (u, v)``, s = radius_q / _QUANT px.

    Built by splatting a dense aperture sampling (<= 0.5 px apart at this radius) bilinearly,
    so each kernel is anti-aliased; weighted by the cells' areas (:func:`_cell_layout`) they
    sum to the full-aperture disc of radius |s|.
    """
    s = radius_q / _QUANT
    fractions, cu, cv = _cell_layout(grid)
    m = max(8 * grid, int(math.ceil(4 * abs(s))) + 1)
    coords = (np.arange(m) + 0.5) / m * 2 - 1
    u, v = np.meshgrid(coords, coords)
    inside = u * u + v * v <= 1.0
    u, v = u[inside], v[inside]
    cell = _cell_of(u, v, grid)
    order = np.argsort(cell, kind="stable")
    u, v, cell = u[order], v[order], cell[order]
    bounds = np.searchsorted(cell, np.arange(grid * grid + 1))
    kernels = []
    for c in np.nonzero(fractions)[0]:
        lo, hi = bounds[c], bounds[c + 1]
        # a sliver cell the coarse sampling missed is represented by its centroid
        cu_s, cv_s = (u[lo:hi], v[lo:hi]) if hi > lo else (cu[c:c + 1], cv[c:c + 1])
        # a view at (u, v) shows the layer shifted by +s(u, v): out(x) = layer(x - s(u, v))
        ty, tx = -s * cv_s, -s * cu_s
        fy, fx = np.floor(ty), np.floor(tx)
        ay, ax = ty - fy, tx - fx
        y0, x0 = int(fy.min()), int(fx.min())
        yy, xx = fy.astype(int) - y0, fx.astype(int) - x0
        kh, kw = int(yy.max()) + 2, int(xx.max()) + 2
        k = np.zeros(kh * kw, np.float64)
        for dy, dx, wgt in ((0, 0, (1 - ay) * (1 - ax)), (0, 1, (1 - ay) * ax), (1, 0, ay * (1 - ax)), (1, 1, ay * ax)):
            k += np.bincount((yy + dy) * kw + (xx + dx), weights=wgt, minlength=kh * kw)
        k = k.reshape(kh, kw)
        # drop empty border rows/columns left by exact-integer positions
        rows, cols = np.nonzero(k.sum(1) > 1e-12)[0], np.nonzero(k.sum(0) > 1e-12)[0]
        k = k[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        kernels.append(_CellKernel(int(c), y0 + int(rows[0]), x0 + int(cols[0]), (k / k.sum()).astype(np.float32)))
    return tuple(kernels)


def _slabs(layer: Layer, focus: float, k: float, slab_px: float, max_slabs: int) -> list[tuple[float, np.ndarray | None]]:
    """Split a layer into (signed radius px, weight map or None) slabs."""
    const = layer.constant_disparity
    if const is not None:
        return [(k * (const - focus), None)]
    d = layer.disparity
    lo, hi = float(d.min()), float(d.max())
    n = int(np.clip(math.ceil(k * (hi - lo) / slab_px) + 1, 2, max_slabs))
    t = (d - lo) / (hi - lo) * (n - 1)
    out = []
    for i in range(n):
        weight = np.clip(1 - np.abs(t - i), 0, 1).astype(np.float32)
        if weight.max() > 0:
            out.append((k * (lo + (hi - lo) * i / (n - 1) - focus), weight))
    return out


def _bbox(alpha: np.ndarray, margin: int) -> tuple[int, int, int, int] | None:
    rows = np.nonzero(alpha.max(axis=1) > 0)[0]
    if rows.size == 0:
        return None
    cols = np.nonzero(alpha.max(axis=0) > 0)[0]
    h, w = alpha.shape
    return (max(rows[0] - margin, 0), min(rows[-1] + 1 + margin, h),
            max(cols[0] - margin, 0), min(cols[-1] + 1 + margin, w))


def aperture_grid(max_radius_px: float, cell_px: float = 3.0, max_grid: int = 7) -> int:
    """Cells per side of the aperture grid: cells about ``cell_px`` wide in image pixels."""
    if max_radius_px < 0.5:
        return 1
    return int(np.clip(math.ceil(2 * max_radius_px / cell_px), 1, max_grid))


def render(scene: Scene, focus_disparity: float, blur_radius_px: float, *, cell_px: float = 3.0,
           max_grid: int = 7, slab_px: float = 1.0, max_slabs: int = 12) -> Render:
    """Render a scene through a circular aperture of blur radius K = ``blur_radius_px``.

    Args:
        scene: layers back to front (see :func:`defocus_cli.data.scene.random_scene`).
        focus_disparity: D_focus in [0, 1]; layers at this disparity are sharp.
        blur_radius_px: K, the aperture radius in pixels of parallax per unit disparity; a
            point at D renders as a disc of radius ``K * |D - D_focus|`` px.
        cell_px: target width of an aperture cell's footprint in pixels (smaller = closer to
            the dense light field, slower); ``max_grid`` caps cells per side.
        slab_px, max_slabs: CoC step and count of the slabs of a slanted layer.
    """
    if not scene.layers:
        raise ValueError("scene has no layers")
    if blur_radius_px < 0 or not np.isfinite(blur_radius_px):
        raise ValueError(f"blur_radius_px must be a finite number >= 0, got {blur_radius_px}")
    h, w = scene.size
    for i, layer in enumerate(scene.layers):
        check_image(layer.color, f"layer {i} color", channels=(3,))
        check_map(layer.alpha, f"layer {i} alpha", (h, w))
        check_map(layer.disparity, f"layer {i} disparity", (h, w))
        if layer.color.shape[:2] != (h, w):
            raise ValueError(f"layer {i} color must be {h}x{w}x3, got {layer.color.shape}")
    k = float(blur_radius_px)
    focus = float(focus_disparity)
    plans = [_slabs(layer, focus, k, slab_px, max_slabs) for layer in scene.layers]
    r_max = max(abs(s) for plan in plans for s, _ in plan)
    grid = aperture_grid(r_max, cell_px, max_grid)
    pad = int(math.ceil(r_max)) + 2
    n_cells = grid * grid
    # 4 channels (premultiplied colour + coverage): compositing whole pixels is twice as fast
    views = np.zeros((n_cells, h, w, 4), np.float32)
    fractions = _cell_layout(grid)[0]
    pinhole = np.zeros((h, w, 3), np.float32)
    disparity = np.zeros((h, w), np.float32)
    margin = int(math.ceil(r_max)) + 1
    for layer, plan in zip(scene.layers, plans, strict=True):
        box = (0, h, 0, w) if layer.opaque else _bbox(layer.alpha, margin)
        if box is None:
            continue
        premult = np.concatenate([layer.color * layer.alpha[..., None], layer.alpha[..., None]], axis=2)
        # centre view and visible surface: no shift at all
        pinhole = pinhole * (1 - layer.alpha[..., None]) + premult[..., :3]
        front = layer.alpha >= 0.5
        disparity[front] = layer.disparity[front]
        y0, y1, x0, x1 = box
        # the scene goes on beyond the frame: a ground plane or an object cut by the border
        # must not fade to transparent in the side views
        border = cv2.BORDER_REFLECT_101
        acc: dict[int, np.ndarray] = {}
        for s, weight in plan:
            src = premult if weight is None else premult * weight[..., None]
            padded = cv2.copyMakeBorder(src, pad, pad, pad, pad, border)
            for ck in _cell_kernels(int(round(s * _QUANT)), grid):
                kh, kw = ck.kernel.shape
                ry, rx = y0 + pad + ck.ty0, x0 + pad + ck.tx0
                roi = padded[ry:ry + (y1 - y0) + kh - 1, rx:rx + (x1 - x0) + kw - 1]
                if kh == 1 and kw == 1:
                    out = roi * ck.kernel[0, 0]
                else:
                    out = cv2.filter2D(roi, -1, ck.kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
                out = out[: y1 - y0, : x1 - x0]
                if ck.cell in acc:
                    acc[ck.cell] += out
                else:
                    acc[ck.cell] = out  # a fresh array in both branches above, safe to own
        for c, contribution in acc.items():
            view = views[c, y0:y1, x0:x1]
            np.multiply(view, 1 - contribution[..., 3:4], out=view)
            np.add(view, contribution, out=view)
    weights = (fractions / fractions.sum()).astype(np.float32)
    image_linear = np.tensordot(weights, views[..., :3], axes=(0, 0))
    return Render(
        image=np.clip(linear_to_srgb(np.clip(image_linear, 0, 1)), 0, 1),
        all_in_focus=np.clip(linear_to_srgb(np.clip(pinhole, 0, 1)), 0, 1),
        disparity=disparity,
        coc_radius_px=signed_coc_radius(disparity, focus, k),
    )
