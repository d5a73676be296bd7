"""Occlusion-aware lens blur: depth-sorted layered compositing in linear light.

The fast renderer every pipeline uses (shallow-dof, magnify, refocus, data synthesis). It is
the approximation of the data engine's light-field renderer given only what a user has: an
all-in-focus image, a depth map, K and the focus.

How it works
------------
1. The signed CoC radius (DESIGN.md: ``K * (D - D_focus)``, positive = in front) is cut into
   layers at fixed radii (0, +-1 .. +-6 px, then x1.25 steps). Each pixel belongs to the two
   nearest layers with linear weights; pixels with ``|coc| < 0.5`` belong to the in-focus layer
   alone, so they come out unchanged.
2. Full resolution, in small tiles with a halo of a few pixels: the coverage of each side of
   the focus plane is split off exactly (an in-focus subject's colour never enters a blurred
   layer, so nothing bleeds into the background: no halos); the finest layers (radius < 2.5
   px) are blurred there, and the rest of each side is kept at half resolution.
3. The pyramid, over the whole frame: each run of layers sharing a pyramid factor (a level
   where its radius is 2.75-5.5 px, 5-10 px for polygons) takes its share of the remaining
   coverage by each cell's mean layer coordinate, is blurred with the aperture kernel (disc
   or polygon), and passes the rest on, halved. Every halving costs a quarter of the one
   before, so time does not grow with the radius.
4. Layers are normalized by the blurred "known" coverage -- what nearer layers do not hide --
   so a layer continues plausibly behind nearer objects instead of darkening around them
   (normalized convolution).
5. Full resolution, in tiles again: behind the focus plane, finer (nearer) runs go over
   coarser ones, then the in-focus layer; holes behind the foreground are filled by
   push-pull; the foreground (coarser runs nearer) goes over it, spreading softly over
   whatever lies behind.

Highlights: before blurring, linear values whose luminance exceeds a threshold are boosted,
so specular points become bright bokeh discs (the in-focus layer is never boosted).

Memory: the full-resolution passes hold one tile's temporaries; the frame-wide state is the
input, output and CoC map, the finest layers in float16, and the half-resolution pyramid --
about 90 bytes per pixel in all.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import cv2
import numpy as np

from defocus_cli.ops.bokeh import DISC, Bokeh, aperture_kernel
from defocus_cli.ops.checks import check_image, check_map
from defocus_cli.ops.lens import IN_FOCUS_RADIUS_PX, signed_coc_radius

#: Default ``--highlights``: linear luminance threshold and gain. Clipped pixels stand for
#: light sources far brighter than 1; a gain of 8 (x9 at full scale) lets a few-pixel
#: highlight light up a visible disc, while mid-tones are untouched.
DEFAULT_HIGHLIGHTS: tuple[float, float] = (0.9, 8.0)
#: Layer radii (px) below the geometric part of the ladder.
_FINE_RADII = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
#: Ratio between successive layer radii above 6 px (blends of two discs 25 % apart are
#: indistinguishable from the disc between them at photographic noise levels).
_RADIUS_RATIO = 1.25
#: A layer is blurred on the pyramid level where its radius is at least this many pixels.
_MIN_LEVEL_RADIUS_PX = 2.75
_MIN_POLYGON_LEVEL_RADIUS_PX = 5.0
#: Layers with smaller radii are blurred at full resolution.
_FULL_RESOLUTION_MAX_RADIUS_PX = 2.5
#: Pixels per tile of the full-resolution passes. Small tiles keep every temporary array a
#: few MB, so the allocator reuses memory instead of mapping (and faulting in) fresh pages.
DEFAULT_TILE_PIXELS = 512 * 512
_EPS = 1e-6
_RESAMPLING_VARIANCE = 1.1
T = TypeVar("T")


def _render_threads() -> int:
    """One thread per core, or ``DEFOCUS_RENDER_THREADS`` when it is a positive integer."""
    value = os.environ.get("DEFOCUS_RENDER_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else os.cpu_count() or 1


#: Threads for the tile passes.
RENDER_THREADS = _render_threads()


def layer_radii(max_abs_radius_px: float) -> list[float]:
    """Unsigned layer radii (px) up to and including the first one >= ``max_abs_radius_px``.

    >>> layer_radii(9.0)
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.5, 9.375]
    """
    radii: list[float] = []
    for radius in _FINE_RADII:
        radii.append(radius)
        if radius >= max_abs_radius_px:
            return radii
    radius = _FINE_RADII[-1]
    while radius < max_abs_radius_px:
        radius *= _RADIUS_RATIO
        radii.append(radius)
    return radii


def _level_factor(radius_px: float, min_level_radius_px: float = _MIN_LEVEL_RADIUS_PX) -> int:
    """Pyramid downsampling factor (a power of two) for a layer of this radius."""
    if radius_px < _FULL_RESOLUTION_MAX_RADIUS_PX:
        return 1
    if radius_px < 2 * min_level_radius_px:
        # Small discs lose nothing visible at half resolution, and full-resolution layers
        # are what a render pays for most.
        return 2
    return 2 ** int(math.floor(math.log2(radius_px / min_level_radius_px)))


def _min_level_radius(bokeh: Bokeh) -> float:
    # A polygon needs more kernel pixels than a disc to keep its corners.
    return _MIN_LEVEL_RADIUS_PX if bokeh.blades == 0 else _MIN_POLYGON_LEVEL_RADIUS_PX


def _kernel_radius(radius_px: float, factor: int) -> float:
    """Kernel radius on a pyramid level: area downsampling and bilinear upsampling widen
    the blur, so the kernel shrinks to keep the second moment of the full-resolution PSF
    equal to a disc of ``radius_px`` (calibrated: they add about 1.1 * factor**2 px**2 to
    the variance r**2 / 2 of a disc)."""
    if factor == 1:
        return radius_px
    corrected = math.sqrt(max(radius_px**2 - 2 * _RESAMPLING_VARIANCE * factor**2, (0.75 * radius_px) ** 2))
    return corrected / factor


def _boost_highlights(image: np.ndarray, threshold: float, gain: float) -> np.ndarray:
    lum = 0.2126 * image[..., 0] + 0.7152 * image[..., 1] + 0.0722 * image[..., 2]
    # Smooth ramp above the threshold: no visible step between boosted and plain pixels.
    ramp = np.clip((lum - threshold) / max(1.0 - threshold, 1e-3), 0.0, 1.0)
    factor = 1.0 + gain * ramp * ramp
    return (image * factor[..., None]).astype(np.float32)


def _down(x: np.ndarray, factor: int) -> np.ndarray:
    """Downsample by ``factor`` (a power of two) in halvings, each a centred 3-tap tent
    [1/4, 1/2, 1/4] followed by 2x2 cell averaging: every pixel is split among the nearest
    cells like a bilinear splat, so a point keeps its position (plain cell averaging would
    snap it to the cell centre), and the cost is about 1.3 passes whatever the factor."""
    tent = np.array([0.25, 0.5, 0.25], np.float32)
    while factor > 1:
        h, w = x.shape[:2]
        x = cv2.sepFilter2D(x, -1, tent, tent, borderType=cv2.BORDER_REFLECT)
        x = cv2.resize(x, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        factor //= 2
    return x


def _up(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if x.shape[:2] == shape:
        return x
    return cv2.resize(x, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _as3(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 3 else x[..., None]


def _push_pull_fill(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Opaque image from premultiplied ``color`` with coverage ``alpha``: holes (alpha < 1)
    are filled with the surrounding colour, averaged over ever coarser pyramid levels."""
    colors = [color]
    alphas = [alpha]
    while min(colors[-1].shape[:2]) > 2:
        h, w = colors[-1].shape[:2]
        size = ((w + 1) // 2, (h + 1) // 2)
        colors.append(_as3(cv2.resize(colors[-1], size, interpolation=cv2.INTER_AREA)))
        alphas.append(cv2.resize(alphas[-1], size, interpolation=cv2.INTER_AREA))
    filled = colors[-1] / np.maximum(alphas[-1], _EPS)[..., None]
    for c, a in zip(reversed(colors[:-1]), reversed(alphas[:-1]), strict=True):
        up = _as3(_up(filled, c.shape[:2]))
        filled = c + (1.0 - np.clip(a, 0.0, 1.0))[..., None] * up
    return filled.astype(np.float32)


def _ladder(lo: float, hi: float) -> tuple[list[float], int, list[float], list[int]]:
    """Signed layer radii (back to front), the in-focus index, and the knots that map a CoC
    radius to the layer coordinate (pixel at coordinate i belongs to layers floor(i) and
    floor(i) + 1 with linear weights; |coc| < 0.5 px maps exactly onto the in-focus layer)."""
    back = [-r for r in reversed(layer_radii(-lo))] if lo <= -IN_FOCUS_RADIUS_PX else []
    front = layer_radii(hi) if hi >= IN_FOCUS_RADIUS_PX else []
    levels = [*back, 0.0, *front]
    zero = len(back)
    knots = [*back, -IN_FOCUS_RADIUS_PX, IN_FOCUS_RADIUS_PX, *front]
    knot_index = [*range(zero), zero, zero, *range(zero + 1, len(levels))]
    return levels, zero, knots, knot_index


def _layer_coordinate(coc: np.ndarray, knots: list[float], knot_index: list[int]) -> np.ndarray:
    return np.interp(coc, knots, np.asarray(knot_index, np.float64)).astype(np.float32)


def _side_runs(levels: list[float], side: range, min_level_radius_px: float) -> list[tuple[int, list[int]]]:
    """``(factor, layer indices)`` runs of one side sharing a pyramid factor, finest first."""
    runs: list[tuple[int, list[int]]] = []
    for k in sorted(side, key=lambda k: abs(levels[k])):
        factor = _level_factor(abs(levels[k]), min_level_radius_px)
        if runs and runs[-1][0] == factor:
            runs[-1][1].append(k)
        else:
            runs.append((factor, [k]))
    return runs


def _side_coverage(boosted: np.ndarray, index: np.ndarray, side: range) -> np.ndarray:
    """[premultiplied colour (3), coverage, coverage * layer coordinate] of one side of the
    focus plane, split off exactly at full resolution (no colour crosses the focus plane)."""
    first, last = side[0], side[-1]
    cover = np.clip(index - np.float32(first - 1), 0.0, 1.0)
    cover -= np.clip(index - np.float32(last), 0.0, 1.0)
    rest = np.empty((*index.shape, 5), np.float32)
    np.multiply(boosted, cover[..., None], out=rest[..., :3])
    rest[..., 3] = cover
    np.multiply(cover, index, out=rest[..., 4])
    return rest


def _peel_run(
    rest: np.ndarray, run: list[int], factor: int, levels: list[float], bokeh: Bokeh, *, front: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blur and composite one run of layers out of ``rest`` (the side's remaining coverage at
    this run's resolution); return the run's (premultiplied colour, alpha) and what remains.

    Each cell gives the run its share of the remaining coverage by the coverage-weighted mean
    layer coordinate (a linear ramp across the boundary layer, like the layer weights), so
    mixing stays within one cell, far below the layer's blur; at full resolution the split is
    exact. Layers are normalized by the blurred "known" coverage (normalized convolution), so
    a layer continues behind nearer ones instead of darkening around them.
    """
    lo_k, hi_k = min(run), max(run)
    cover = rest[..., 3]
    inv_cover = 1.0 / np.maximum(cover, _EPS)
    mean = rest[..., 4] * inv_cover
    if front:
        share = np.clip(np.float32(hi_k + 1) - mean, 0.0, 1.0)
        known = 1.0 - cover  # everything not in this side's remainder is farther
    else:
        share = np.clip(mean - np.float32(lo_k - 1), 0.0, 1.0)
        known = cover * (1.0 - share)  # the coarser remainder is farther
    run_cover = cover * share
    mean_run = np.clip(mean, lo_k, hi_k)
    masks = {k: run_cover * np.maximum(1.0 - np.abs(mean_run - np.float32(k)), 0.0) for k in run}
    cumulative = {}
    for k in sorted(run):
        known = known + masks[k]
        cumulative[k] = known
    # Planar colour: contiguous per-channel products are much cheaper than broadcasts into an
    # interleaved stack.
    colour = [np.ascontiguousarray(rest[..., c]) * inv_cover for c in range(3)]
    comp_planes = [np.zeros(cover.shape, np.float32) for _ in range(3)]
    comp_a = np.zeros(cover.shape, np.float32)
    # Within a run, nearest layer first ("under"), whichever side.
    for k in sorted(run, reverse=True):
        mask = masks[k]
        if not np.any(mask > 1e-4):
            continue
        layer = cv2.merge([colour[0] * mask, colour[1] * mask, colour[2] * mask, mask, cumulative[k]])
        # filter2D correlates; flipping makes it a convolution (matters for polygons).
        kernel = aperture_kernel(_kernel_radius(abs(levels[k]), factor), bokeh)[::-1, ::-1]
        planes = cv2.split(cv2.filter2D(layer, -1, kernel, borderType=cv2.BORDER_REFLECT))
        norm = 1.0 / np.maximum(planes[4], 1e-3)
        alpha = np.clip(planes[3] * norm, 0.0, 1.0)
        weight = (1.0 - comp_a) * norm
        for c in range(3):
            comp_planes[c] += planes[c] * weight
        comp_a += (1.0 - comp_a) * alpha
    # The remainder, its mean coordinate clamped beyond this run.
    keep = 1.0 - share
    remainder = rest.copy()
    remainder[..., :4] *= keep[..., None]
    beyond = np.maximum(mean, np.float32(hi_k + 1)) if front else np.minimum(mean, np.float32(lo_k - 1))
    remainder[..., 4] = remainder[..., 3] * beyond
    return cv2.merge(comp_planes), comp_a, remainder


def _combine_runs(composites: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int], *, front: bool) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-run composites (finest first): behind the focus plane the finer run is
    nearer (over the coarser), in front the coarser run is nearer. Returned at ``shape``."""
    total_c, total_a = composites[-1]
    for comp_c, comp_a in reversed(composites[:-1]):
        up_c, up_a = _as3(_up(total_c, comp_a.shape)), _up(total_a, comp_a.shape)
        if front:
            total_c = up_c + (1.0 - up_a)[..., None] * comp_c
            total_a = up_a + (1.0 - up_a) * comp_a
        else:
            total_c = comp_c + (1.0 - comp_a)[..., None] * up_c
            total_a = comp_a + (1.0 - comp_a) * up_a
    return _as3(_up(total_c, shape)), _up(total_a, shape)


def render_lens_blur(
    image_linear: np.ndarray,
    coc_radius_px: np.ndarray,
    *,
    bokeh: Bokeh = DISC,
    highlights: tuple[float, float] | None = DEFAULT_HIGHLIGHTS,
    tile_pixels: int = DEFAULT_TILE_PIXELS,
    untouched: np.ndarray | None = None,
) -> np.ndarray:
    """Render a lens blur.

    ``image_linear``: HxWx3 float32 linear light (all in focus, or whatever the photo has).
    ``coc_radius_px``: HxW signed CoC radius in pixels of the image (positive = in front of
    the focus plane, DESIGN.md). ``bokeh``: aperture shape. ``highlights``: ``(threshold,
    gain)`` in linear luminance, or None. ``tile_pixels``: the full-resolution work runs in
    tiles of about this many pixels. Returns HxWx3 float32 linear light (values may exceed 1
    where highlights were boosted; clip before encoding). ``untouched``: optional HxW bool
    array, set True where the output is exactly the input (in focus, with no blurred
    foreground over it), so callers can keep those pixels bit-exact after encoding.

    >>> img = np.zeros((32, 32, 3), np.float32); img[16, 16] = 1.0
    >>> out = render_lens_blur(img, np.full((32, 32), -5.0, np.float32), highlights=None)
    >>> round(float(out.sum()), 3)
    3.0
    """
    check_image(image_linear, "image_linear", channels=(3,))
    check_map(coc_radius_px, "coc_radius_px", image_linear.shape[:2])
    image = np.ascontiguousarray(image_linear, dtype=np.float32)
    coc = np.ascontiguousarray(coc_radius_px, dtype=np.float32)
    if not np.all(np.isfinite(coc)):
        raise ValueError("coc_radius_px contains NaN or infinite values")
    if untouched is not None:
        check_map(untouched, "untouched", coc.shape)
        untouched[...] = True
    max_radius = float(np.abs(coc).max()) if coc.size else 0.0
    if max_radius < IN_FOCUS_RADIUS_PX:
        return image.copy()

    h, w = coc.shape
    # A disc wider than the frame's diagonal already spreads each pixel over the whole frame;
    # larger radii change nothing visible but would size the pyramid (time and memory) by
    # the radius instead of the image.
    reach = math.hypot(h, w)
    if max_radius > reach:
        coc = np.clip(coc, -reach, reach)
    levels, zero, knots, knot_index = _ladder(float(coc.min()), float(coc.max()))
    min_level = _min_level_radius(bokeh)
    sides = {"back": range(0, zero), "front": range(zero + 1, len(levels))}
    runs = {name: _side_runs(levels, side, min_level) for name, side in sides.items() if len(side)}
    coarsest = max([2] + [factor for side_runs in runs.values() for factor, _ in side_runs])
    # A canvas on the coarsest pyramid grid; past the frame the scene is taken to continue
    # (reflection), as a lens sees it.
    hc, wc = -(-h // coarsest) * coarsest, -(-w // coarsest) * coarsest
    fine_reach = 2 * int(math.ceil(_FULL_RESOLUTION_MAX_RADIUS_PX)) + 8
    core = max(2, int(math.sqrt(max(tile_pixels, 1))) // 2 * 2)

    def tiles(halo: int):
        for y0 in range(0, hc, core):
            y1 = min(hc, y0 + core)
            for x0 in range(0, wc, core):
                x1 = min(wc, x0 + core)
                yield y0, y1, x0, x1, _reflect_indices(y0 - halo, y1 + halo, h), _reflect_indices(x0 - halo, x1 + halo, w)

    # 1. Full resolution, in tiles with a small halo: split each side off exactly, render its
    #    finest layers, and keep the remainder at half resolution for the pyramid.
    fine: dict[str, np.ndarray] = {}
    rest: dict[str, np.ndarray] = {}
    for name in runs:
        if runs[name][0][0] == 1:
            fine[name] = np.zeros((hc, wc, 4), np.float16)
        if any(factor > 1 for factor, _ in runs[name]):
            rest[name] = np.zeros((hc // 2, wc // 2, 5), np.float32)
    halo = fine_reach

    def split_tile(tile: tuple[int, int, int, int, np.ndarray, np.ndarray]) -> None:
        y0, y1, x0, x1, rows, cols = tile
        block_coc = _gather(coc, rows, cols)
        index = _layer_coordinate(block_coc, knots, knot_index)
        block = _gather(image, rows, cols)
        boosted = block
        if highlights is not None and float(block.max()) > highlights[0]:
            boosted = _boost_highlights(block, *highlights)
        for name, side in sides.items():
            if name not in runs or not (float(index.min()) < side[-1] + 1 and float(index.max()) > side[0] - 1):
                continue
            remainder = _side_coverage(boosted, index, side)
            factor, run = runs[name][0]
            if factor == 1:
                c, a, remainder = _peel_run(remainder, run, 1, levels, bokeh, front=name == "front")
                fine[name][y0:y1, x0:x1, :3] = c[halo : halo + y1 - y0, halo : halo + x1 - x0]
                fine[name][y0:y1, x0:x1, 3] = a[halo : halo + y1 - y0, halo : halo + x1 - x0]
            if name in rest:
                half = _down(remainder, 2)
                rest[name][y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = half[halo // 2 : (halo + y1 - y0) // 2, halo // 2 : (halo + x1 - x0) // 2]

    _for_each_tile(split_tile, list(tiles(halo)))

    # 2. The pyramid, over the whole frame at half resolution and below: every coarser run
    #    costs a quarter of the one before, whatever its radius.
    coarse: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, remainder in rest.items():
        composites = []
        current = 2
        for factor, run in runs[name]:
            if factor == 1:
                continue
            remainder = _down(remainder, factor // current)
            current = factor
            c, a, remainder = _peel_run(remainder, run, factor, levels, bokeh, front=name == "front")
            composites.append((c, a))
            if float(remainder[..., 3].max()) < 1e-4:
                break
        del remainder
        coarse[name] = _combine_runs(composites, (hc // 2, wc // 2), front=name == "front")
    rest.clear()  # the half-resolution remainders are no longer needed

    # 3. Full resolution, tile by tile: upsample the pyramid's result, stack it with the fine
    #    layers and the in-focus layer, fill what the background lacks behind the foreground.
    out = np.empty_like(image)

    def composite_tile(tile: tuple[int, int, int, int, np.ndarray, np.ndarray]) -> None:
        y0, y1, x0, x1, _, _ = tile
        ye, xe = min(y1, h), min(x1, w)
        if ye <= y0 or xe <= x0:
            return
        index = _layer_coordinate(coc[y0:ye, x0:xe], knots, knot_index)
        side_c: dict[str, np.ndarray] = {}
        side_a: dict[str, np.ndarray] = {}
        for name in runs:
            parts = []
            if name in fine:
                stored = fine[name][y0:ye, x0:xe].astype(np.float32)
                parts.append((stored[..., :3], stored[..., 3]))
            if name in coarse:
                # Upsample a crop with a margin of two cells: bilinear needs its neighbours.
                cy0, cx0 = max(0, y0 // 2 - 2), max(0, x0 // 2 - 2)
                cy1, cx1 = min(hc // 2, -(-ye // 2) + 2), min(wc // 2, -(-xe // 2) + 2)
                crop_c = coarse[name][0][cy0:cy1, cx0:cx1]
                crop_a = coarse[name][1][cy0:cy1, cx0:cx1]
                up_shape = (2 * (cy1 - cy0), 2 * (cx1 - cx0))
                oy, ox = y0 - 2 * cy0, x0 - 2 * cx0
                up_c = _as3(_up(crop_c, up_shape))[oy : oy + ye - y0, ox : ox + xe - x0]
                up_a = _up(crop_a, up_shape)[oy : oy + ye - y0, ox : ox + xe - x0]
                parts.append((up_c, up_a))
            if len(parts) == 1:
                side_c[name], side_a[name] = parts[0]
            elif name == "back":  # the fine layers are nearer than the coarse ones
                (fc, fa), (cc, ca) = parts
                side_c[name], side_a[name] = fc + (1.0 - fa)[..., None] * cc, fa + (1.0 - fa) * ca
            else:  # in front, the coarse layers are the nearer ones
                (fc, fa), (cc, ca) = parts
                side_c[name], side_a[name] = cc + (1.0 - ca)[..., None] * fc, ca + (1.0 - ca) * fa
        if "back" in side_c:
            acc_c, acc_a = side_c["back"], side_a["back"]
        else:
            acc_c, acc_a = np.zeros((ye - y0, xe - x0, 3), np.float32), np.zeros((ye - y0, xe - x0), np.float32)
        tile_image = image[y0:ye, x0:xe]
        if float(np.abs(index - np.float32(zero)).min()) < 1.0:  # the in-focus layer is present
            focus_mask = np.maximum(1.0 - np.abs(index - np.float32(zero)), 0.0)
            acc_c = tile_image * focus_mask[..., None] + (1.0 - focus_mask)[..., None] * acc_c
            acc_a = focus_mask + (1.0 - focus_mask) * acc_a
        if float(acc_a.min()) > 0.999:
            background = acc_c / acc_a[..., None]  # nothing behind is missing
        else:
            background = _push_pull_fill(acc_c, acc_a)
        same = index == np.float32(zero)
        if "front" in side_c:
            background = side_c["front"] + (1.0 - side_a["front"])[..., None] * background
            same &= side_a["front"] == 0.0
        out[y0:ye, x0:xe] = background
        if untouched is not None:
            untouched[y0:ye, x0:xe] = same

    _for_each_tile(composite_tile, list(tiles(0)))
    return out


def _for_each_tile(work: Callable[[T], None], items: list[T]) -> None:
    """Run ``work`` on every tile, on :data:`RENDER_THREADS` threads. Tiles write disjoint
    parts of the frame, and OpenCV and NumPy release the GIL on arrays this large, so the
    threads really run side by side (NumPy's own work is single-threaded)."""
    threads = min(RENDER_THREADS, len(items))
    if threads <= 1:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(work, item) for item in items]:
            future.result()


def _gather(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``x[rows][:, cols]``, as a plain slice copy when the indices are a contiguous run."""
    def run(idx: np.ndarray) -> slice | None:
        return slice(int(idx[0]), int(idx[-1]) + 1) if idx[-1] - idx[0] == idx.size - 1 and np.all(np.diff(idx) == 1) else None

    row_slice, col_slice = run(rows), run(cols)
    picked = x[row_slice] if row_slice is not None else x[rows]
    picked = picked[:, col_slice] if col_slice is not None else picked[:, cols]
    return np.ascontiguousarray(picked)


def _reflect_indices(start: int, stop: int, n: int) -> np.ndarray:
    """Row/column indices ``start..stop-1`` reflected into ``0..n-1`` (edge pixel not repeated
    for n > 1), like OpenCV's BORDER_REFLECT_101."""
    idx = np.arange(start, stop)
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def render_from_depth(
    image_linear: np.ndarray,
    depth_inv_norm: np.ndarray,
    focus_depth: float,
    blur_radius_px: float,
    **kwargs: object,
) -> np.ndarray:
    """Thin-lens render: CoC = ``blur_radius_px * (depth - focus_depth)`` (DESIGN.md), then
    :func:`render_lens_blur`. ``depth_inv_norm`` is HxW normalized inverse depth in [0, 1]."""
    check_map(depth_inv_norm, "depth_inv_norm", image_linear.shape[:2])
    coc = signed_coc_radius(depth_inv_norm, focus_depth, blur_radius_px)
    return render_lens_blur(image_linear, coc, **kwargs)  # type: ignore[arg-type]
