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
2. Each layer (premultiplied colour, coverage) is blurred with the aperture kernel (disc or
   polygon) of its radius, on a pyramid level where that radius is 2.75-5.5 px, so the cost per
   layer is bounded whatever the radius.
3. Layers are normalized by the blurred "known" mask -- the pixels not hidden by nearer
   layers -- so a layer's colour continues plausibly behind nearer objects (normalized
   convolution) instead of fading to black around them.
4. Compositing, coarse to fine: layers behind (and at) the focus plane are stacked back to
   front with "over", layers in front front to back with "under"; the background stack's
   remaining holes (behind the foreground) are filled by push-pull, then the foreground
   stack goes over it. An in-focus subject's colour is never in a blurred background layer,
   so nothing bleeds into the background (no halos); a blurred foreground spreads over
   whatever lies behind it.

Highlights: before blurring, linear values whose luminance exceeds a threshold are boosted,
so specular points become bright bokeh discs (the in-focus layer is never boosted).

Images are processed in tiles with a halo of the largest radius: peak memory is bounded (a
few hundred bytes per pixel of one tile), and each tile renders only the layers present
within its reach, so cost follows the depth map's complexity, not the ladder's length.
"""

from __future__ import annotations

import math

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
#: Largest tile (core + halo) in pixels: bounds peak memory whatever the image size.
DEFAULT_TILE_PIXELS = 6_000_000
#: Preferred tile core side (px); grows with the halo so the halo overhead stays moderate.
_TILE_CORE_PX = 1024
_EPS = 1e-6
_RESAMPLING_VARIANCE = 1.1


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


def _render_block(
    image: np.ndarray,
    coc: np.ndarray,
    bokeh: Bokeh,
    highlights: tuple[float, float] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one (padded) block; its height and width are multiples of the coarsest factor.

    Returns the render and a boolean map of the pixels it returned exactly as they were (in
    focus, nothing in front spread over them)."""
    h, w = coc.shape
    lo, hi = float(coc.min()), float(coc.max())
    # The same ladder everywhere (so tiles agree), cut just past this block's range.
    back = [-r for r in reversed(layer_radii(-lo))] if lo <= -IN_FOCUS_RADIUS_PX else []
    front = layer_radii(hi) if hi >= IN_FOCUS_RADIUS_PX else []
    levels = [*back, 0.0, *front]
    zero = len(back)
    # Layer coordinate: pixel at index i belongs to layers floor(i) and floor(i)+1 with
    # linear weights. The in-focus layer spans |coc| < 0.5 exactly, then ramps to +-1 px.
    knots = [*back, -IN_FOCUS_RADIUS_PX, IN_FOCUS_RADIUS_PX, *front]
    knot_index = [*range(zero), zero, zero, *range(zero + 1, len(levels))]
    index = np.interp(coc, knots, np.asarray(knot_index, np.float64)).astype(np.float32)
    boosted = image
    if highlights is not None and float(image.max()) > highlights[0]:
        boosted = _boost_highlights(image, *highlights)

    min_level = _min_level_radius(bokeh)
    back_side = _side_layers(boosted, index, levels, range(0, zero), min_level, bokeh, front=False)
    front_side = _side_layers(boosted, index, levels, range(zero + 1, len(levels)), min_level, bokeh, front=True)

    # Everything behind the focus plane, then the in-focus layer over it.
    acc_c = np.zeros((h, w, 3), np.float32)
    acc_a = np.zeros((h, w), np.float32)
    if back_side is not None:
        (y0, y1, x0, x1), c, a = back_side
        acc_c[y0:y1, x0:x1], acc_a[y0:y1, x0:x1] = c, a
    if float(np.abs(index - np.float32(zero)).min()) < 1.0:  # the in-focus layer is present
        focus_mask = np.maximum(1.0 - np.abs(index - np.float32(zero)), 0.0)
        acc_c = image * focus_mask[..., None] + (1.0 - focus_mask)[..., None] * acc_c
        acc_a = focus_mask + (1.0 - focus_mask) * acc_a
    if float(acc_a.min()) > 0.999:
        # Nothing behind is missing: no fill needed, just undo the rounding.
        background = acc_c / acc_a[..., None]
    else:
        background = _push_pull_fill(acc_c, acc_a)
    untouched = index == np.float32(zero)
    if front_side is None:
        return background, untouched
    (y0, y1, x0, x1), c, a = front_side
    view = background[y0:y1, x0:x1]
    view *= (1.0 - a)[..., None]
    view += c
    untouched[y0:y1, x0:x1] &= a == 0.0
    return background, untouched


def _side_layers(
    boosted: np.ndarray,
    index: np.ndarray,
    levels: list[float],
    side: range,
    min_level_radius_px: float,
    bokeh: Bokeh,
    *,
    front: bool,
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray] | None:
    """Blur and composite all layers on one side of the focus plane.

    Returns ``((y0, y1, x0, x1), premultiplied colour, alpha)`` at full resolution over the
    region the side reaches, or None when the side is empty.

    The side's coverage is split off exactly at full resolution, so no colour crosses the
    focus plane (no halos). Going down the pyramid, each run of layers sharing a factor
    takes its share of the remaining coverage by the coverage-weighted mean layer
    coordinate of each cell (mixing stays within one cell, far below that layer's blur),
    and the rest is passed on, halved, to the coarser runs: each halving costs a quarter of
    the one before, so the side costs about two full-resolution passes plus its fine
    layers, however many layers it has.
    """
    if len(side) == 0:
        return None
    first, last = side[0], side[-1]
    h, w = index.shape
    rows = np.nonzero((index.min(axis=1) < last + 1) & (index.max(axis=1) > first - 1))[0]
    cols = np.nonzero((index.min(axis=0) < last + 1) & (index.max(axis=0) > first - 1))[0]
    if rows.size == 0 or cols.size == 0:
        return None
    factors = {k: _level_factor(abs(levels[k]), min_level_radius_px) for k in side}
    coarsest = max(factors.values())
    reach = int(math.ceil(max(abs(levels[first]), abs(levels[last])))) + 2 * coarsest
    y0 = max(0, (rows[0] - reach) // coarsest * coarsest)
    x0 = max(0, (cols[0] - reach) // coarsest * coarsest)
    y1 = min(h, -(-(rows[-1] + 1 + reach) // coarsest) * coarsest)
    x1 = min(w, -(-(cols[-1] + 1 + reach) // coarsest) * coarsest)
    idx = index[y0:y1, x0:x1]
    cover = np.clip(idx - np.float32(first - 1), 0.0, 1.0)
    cover -= np.clip(idx - np.float32(last), 0.0, 1.0)
    # The remaining coverage: [premultiplied colour (3), coverage, coverage * layer coordinate].
    rest = np.empty((y1 - y0, x1 - x0, 5), np.float32)
    np.multiply(boosted[y0:y1, x0:x1], cover[..., None], out=rest[..., :3])
    rest[..., 3] = cover
    np.multiply(cover, idx, out=rest[..., 4])

    # Runs of layers sharing a factor, finest (nearest the focus plane) first.
    order = sorted(side, key=lambda k: abs(levels[k]))
    runs: list[list[int]] = []
    for k in order:
        if runs and factors[runs[-1][0]] == factors[k]:
            runs[-1].append(k)
        else:
            runs.append([k])

    composites: list[tuple[np.ndarray, np.ndarray]] = []
    current = 1
    for run in runs:
        factor = factors[run[0]]
        rest = _down(rest, factor // current)
        current = factor
        lo_k, hi_k = min(run), max(run)
        cover = rest[..., 3]
        inv_cover = 1.0 / np.maximum(cover, _EPS)
        mean = rest[..., 4] * inv_cover
        # Share of each cell's coverage in this run (the rest lies beyond it, farther from
        # the focus plane): a linear ramp across the boundary layer, like the layer weights.
        if front:
            share = np.clip(np.float32(hi_k + 1) - mean, 0.0, 1.0)
            known_base = 1.0 - cover  # everything not on this side's remainder is farther
        else:
            share = np.clip(mean - np.float32(lo_k - 1), 0.0, 1.0)
            known_base = cover * (1.0 - share)  # the coarser remainder is farther
        run_cover = cover * share
        mean_run = np.clip(mean, lo_k, hi_k)
        masks = {k: run_cover * np.maximum(1.0 - np.abs(mean_run - np.float32(k)), 0.0) for k in run}
        # Planar colour: contiguous per-channel products are much cheaper than broadcasts
        # into an interleaved stack.
        colour = [np.ascontiguousarray(rest[..., c]) * inv_cover for c in range(3)]
        comp_planes = [np.zeros(cover.shape, np.float32) for _ in range(3)]
        comp_a = np.zeros_like(cover)
        known = known_base
        cumulative = {}
        for k in sorted(run):
            known = known + masks[k]
            cumulative[k] = known
        # Within a run, nearest layer first ("under"), whichever side.
        for k in sorted(run, reverse=True):
            mask = masks[k]
            if not np.any(mask > 1e-4):
                continue
            layer = cv2.merge([colour[0] * mask, colour[1] * mask, colour[2] * mask, mask, cumulative[k]])
            # filter2D correlates; flipping makes it a convolution (matters for polygons).
            kernel = aperture_kernel(_kernel_radius(abs(levels[k]), factor), bokeh)[::-1, ::-1]
            planes = cv2.split(cv2.filter2D(layer, -1, kernel, borderType=cv2.BORDER_REFLECT))
            # Normalized convolution: divide by the blurred "known" (not hidden by nearer
            # layers) so the layer continues behind nearer objects instead of darkening.
            norm = 1.0 / np.maximum(planes[4], 1e-3)
            alpha = np.clip(planes[3] * norm, 0.0, 1.0)
            weight = (1.0 - comp_a) * norm
            for c in range(3):
                comp_planes[c] += planes[c] * weight
            comp_a += (1.0 - comp_a) * alpha
        composites.append((cv2.merge(comp_planes), comp_a))
        # Pass on the remainder, with its mean coordinate clamped beyond this run.
        keep = 1.0 - share
        rest[..., :4] *= keep[..., None]
        beyond = np.maximum(mean, np.float32(hi_k + 1)) if front else np.minimum(mean, np.float32(lo_k - 1))
        rest[..., 4] = rest[..., 3] * beyond
        if float(rest[..., 3].max()) < 1e-4:
            break

    # Combine runs: behind the focus plane the finer run is nearer (over the coarser); in
    # front the coarser run is nearer.
    total_c, total_a = composites[-1]
    for comp_c, comp_a in reversed(composites[:-1]):
        up_c, up_a = _as3(_up(total_c, comp_a.shape)), _up(total_a, comp_a.shape)
        if front:
            total_c = up_c + (1.0 - up_a)[..., None] * comp_c
            total_a = up_a + (1.0 - up_a) * comp_a
        else:
            total_c = comp_c + (1.0 - comp_a)[..., None] * up_c
            total_a = comp_a + (1.0 - comp_a) * up_a
    shape = (y1 - y0, x1 - x0)
    return (y0, y1, x0, x1), _as3(_up(total_c, shape)), _up(total_a, shape)


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
    gain)`` in linear luminance, or None. Returns HxWx3 float32 linear light (values may
    exceed 1 where highlights were boosted; clip before encoding). ``untouched``: optional
    HxW bool array, set True where the output is exactly the input (in focus, with no
    blurred foreground over it), so callers can keep those pixels bit-exact after encoding.

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
    radii = layer_radii(max_radius)
    coarsest = _level_factor(radii[-1], _min_level_radius(bokeh))
    # Reflect padding: the scene is assumed to continue past the frame, as a lens sees it.
    halo = int(math.ceil(radii[-1])) + 2 * coarsest
    # Pyramid cells must line up across tiles: every block starts on the coarsest grid.
    halo = -(-halo // coarsest) * coarsest
    h, w = coc.shape
    out = np.empty_like(image)
    # Tiles: each renders only the layers present within its reach, so smooth areas cost a
    # few layers and only tiles along depth edges pay for many. Bounded memory per tile.
    core = max(_TILE_CORE_PX, 4 * halo)
    core = min(core, max(coarsest, int(math.sqrt(max(tile_pixels, 1))) - 2 * halo))
    core = max(coarsest, core // coarsest * coarsest)
    for y0 in range(0, h, core):
        y1 = min(h, y0 + core)
        rows = _reflect_indices(y0 - halo, y1 + halo + (-(y1 - y0 + 2 * halo)) % coarsest, h)
        for x0 in range(0, w, core):
            x1 = min(w, x0 + core)
            cols = _reflect_indices(x0 - halo, x1 + halo + (-(x1 - x0 + 2 * halo)) % coarsest, w)
            block_coc = _gather(coc, rows, cols)
            if float(np.abs(block_coc).max()) < IN_FOCUS_RADIUS_PX:
                out[y0:y1, x0:x1] = image[y0:y1, x0:x1]
                continue
            block, same = _render_block(_gather(image, rows, cols), block_coc, bokeh, highlights)
            out[y0:y1, x0:x1] = block[halo : halo + (y1 - y0), halo : halo + (x1 - x0)]
            if untouched is not None:
                untouched[y0:y1, x0:x1] = same[halo : halo + (y1 - y0), halo : halo + (x1 - x0)]
    return out


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
