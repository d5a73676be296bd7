"""Seed 003 evaluation: ``defocus eval depth`` (Table 1) and ``defocus eval lens-blur`` (Tables 2, 3).

* Table 1 layout: MAE of normalized inverse depth after the seed's per-image fit of a
  5-knot linear spline (least squares) from prediction to ground truth, which removes
  scale differences (and inversions). Rows: the model, a constant map (the identity-like
  baseline) and a classical ground-plane prior (lower rows nearer).
* Real photo: Spearman rank correlation and scale-and-shift-aligned AbsRel on scikit-image's
  Middlebury motorcycle pair (disparity ground truth), at several working resolutions.
* Table 2 layout: PSNR/SSIM of the shallow-DoF render against the light-field target.
  Rows: identity (the all-in-focus input), a naive per-pixel gather blur, the classical layered renderer
  (:func:`defocus_cli.ops.render.render_from_depth`, the "[Yang et al.]" column) given the
  true depth, and the model given the true depth.
* Table 3 layout: the model fed each depth: ground truth (GT), corrupted (dilated/eroded
  foreground, §4.2) and, with ``depth=`` a depth model, predicted (Pred).

Data: the held-out synthetic DeepLens composites by default, or a folder of ``.npz``
samples with the same keys (``image``, ``depth``, ``depth_corrupted``, ``focus_depth``,
``blur_radius_px``, ``target``); for ``depth`` also a generic RGB-D folder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from defocus_cli.ops.views import averaged_over_views, listed_view_shifts
from defocus_cli.training.evaluate import (
    EvalData,
    Predictor,
    Table,
    pair_metrics,
    register_eval_sampler,
    register_table,
)

SPLINE_KNOTS = 5
DEPTH_STRIDE = 8  # the depth encoder's output stride
#: Offsets (px) of the views `depth` averages for deeplens-depth-cpu: none and half the stride;
#: the rows "as the pipeline runs it" use these unless the export lists its own
#: (``defocus export --view-shift``).
HALF_STRIDE_SHIFTS = (0, DEPTH_STRIDE // 2)


def _pipeline_views(model: Predictor) -> tuple[tuple[int, ...], str]:
    """The view shifts the depth pipeline runs ``model`` with, and their row label."""
    shifts = listed_view_shifts(model.metadata, HALF_STRIDE_SHIFTS)
    label = "mirror and half-stride shift (4 views)" if shifts == HALF_STRIDE_SHIFTS else f"{2 * len(shifts)} views"
    return shifts, label


def spline_fit(pred: np.ndarray, target: np.ndarray, knots: int = SPLINE_KNOTS) -> np.ndarray:
    """Least-squares piecewise-linear map of ``pred`` onto ``target`` with ``knots`` knots.

    Knots sit at evenly spaced quantiles of ``pred``; the fitted values at the knots minimize
    the squared error (seed 003 §5.1, after Srinivasan et al.). Returns the mapped prediction.

    >>> x = np.linspace(0, 1, 50).reshape(5, 10)
    >>> bool(np.allclose(spline_fit(x, 1 - x), 1 - x, atol=1e-6))
    True
    """
    p = np.asarray(pred, np.float64).ravel()
    t = np.asarray(target, np.float64).ravel()
    xs = np.unique(np.quantile(p, np.linspace(0, 1, knots)))
    if xs.size < 2:  # a constant prediction: the best fit is the mean
        return np.full(np.shape(pred), float(t.mean()), np.float32)
    # hat-function basis of the piecewise-linear interpolant through the knots
    basis = np.stack([np.interp(p, xs, np.eye(xs.size)[k]) for k in range(xs.size)], axis=1)
    values, *_ = np.linalg.lstsq(basis, t, rcond=None)
    return (basis @ values).reshape(np.shape(pred)).astype(np.float32)


def depth_mae(pred: np.ndarray, target: np.ndarray) -> float:
    """Table 1's MAE: after the spline fit, on normalized inverse depth."""
    return float(np.mean(np.abs(spline_fit(pred, target) - np.asarray(target, np.float64))))


def ground_plane_prior(image: np.ndarray) -> np.ndarray:
    """Classical depth prior: nearness grows linearly from the top row (0) to the bottom (1)."""
    h, w = image.shape[:2]
    return np.repeat(np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None], w, axis=1)


def eval_sample(rng: np.random.Generator, size: tuple[int, int], index: int) -> dict[str, np.ndarray]:
    """A held-out DeepLens composite (seeds of the ``test`` split)."""
    from defocus_cli.data.tasks import deeplens_sample

    return deeplens_sample(rng, size)


def depth_eval_sample(rng: np.random.Generator, size: tuple[int, int], index: int) -> dict[str, np.ndarray]:
    """A held-out depth scene (photographic scenes and composites, as the depth module trains on)."""
    from defocus_cli.data.tasks import depth_scene_sample

    return depth_scene_sample(rng, size)


def _as_map(out: np.ndarray) -> np.ndarray:
    out = np.asarray(out, np.float32)
    return out[..., 0] if out.ndim == 3 else out


def predict_depth(model: Predictor, image: np.ndarray, stride: int = DEPTH_STRIDE) -> np.ndarray:
    """The depth model's HxW map, the image reflect-padded to the encoder's stride first."""
    from defocus_cli.models.tiling import pad_to_stride

    padded, (h, w) = pad_to_stride(np.asarray(image, np.float32), stride)
    return _as_map(model({"image": padded}))[:h, :w]


def _depth_samples(data: EvalData) -> Iterator[dict[str, np.ndarray]]:
    folder = data.folder
    if folder is not None and not any(Path(folder).rglob("*.npz")):
        from defocus_cli.data.readers import read_rgbd_folder

        for item in read_rgbd_folder(folder)[: data.count or None]:
            image, depth = item.load()
            yield {"image": image, "depth": depth}
        return
    yield from data.samples("test")


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equally long value lists (ties broken by order).

    >>> rank_correlation(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 15.0]))
    0.5
    """
    ra = np.argsort(np.argsort(np.ravel(a))).astype(np.float64)
    rb = np.argsort(np.argsort(np.ravel(b))).astype(np.float64)
    ra -= ra.mean()
    rb -= rb.mean()
    denominator = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else 0.0


def aligned_abs_rel(pred_inverse: np.ndarray, gt_disparity: np.ndarray) -> float:
    """AbsRel of depth after a least-squares scale and shift of the predicted inverse depth
    onto the true disparity (the usual protocol for relative depth): mean |z - z*| / z*,
    with z = 1 / disparity. Aligned values are floored at the smallest true disparity."""
    p = np.asarray(pred_inverse, np.float64).ravel()
    g = np.asarray(gt_disparity, np.float64).ravel()
    design = np.stack([p, np.ones_like(p)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, g, rcond=None)
    aligned = np.maximum(scale * p + shift, g.min())
    return float(np.mean(np.abs(1.0 / aligned - 1.0 / g) * g))


def _resized_prediction(model: Predictor, image: np.ndarray, long_side_px: int) -> np.ndarray:
    """The model's depth of ``image`` run with its long side at ``long_side_px``, brought back
    to the image's size (bilinear): what the depth pipeline does before guided upsampling."""
    import cv2

    from defocus_cli.pipelines.depth import working_size

    h, w = image.shape[:2]
    small_h, small_w = working_size(h, w, long_side_px)
    small = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_AREA) if (small_h, small_w) != (h, w) else image
    depth = predict_depth(model, small)
    return cv2.resize(depth, (w, h), interpolation=cv2.INTER_LINEAR) if depth.shape != (h, w) else depth


#: Long sides (px) the real-photo table tries, to choose the depth model's working resolution.
REAL_PHOTO_LONG_SIDES = (128, 192, 256, 384)


def real_photo_depth_table(model: Predictor) -> Table:
    """Depth on a real photograph with measured disparity: scikit-image's Middlebury 2014
    motorcycle pair (left view; disparity in px, NaN = unknown), never a training texture.
    Spearman rank correlation (higher is better) and scale-and-shift-aligned AbsRel (lower)."""
    from defocus_cli.data.real_scenes import middlebury_motorcycle

    image, disparity = middlebury_motorcycle()
    valid = np.isfinite(disparity)
    gt = np.asarray(disparity, np.float64)[valid]
    shifts, views = _pipeline_views(model)
    methods: dict[str, Callable[[], np.ndarray]] = {}
    for side in REAL_PHOTO_LONG_SIDES:
        methods[f"Ours at {side} px: {model.description}"] = lambda side=side: _resized_prediction(model, image, side)
        methods[f"Ours at {side} px, averaged with its mirror"] = lambda side=side: averaged_over_views(
            lambda view: _resized_prediction(model, view, side), image)
        # As the depth pipeline runs it at this working size. The shift is in px of the
        # working image, so the photo is shifted by that times the shrink factor.
        methods[f"Ours at {side} px, {views}"] = lambda side=side: averaged_over_views(
            lambda view: _resized_prediction(model, view, side), image,
            tuple(round(shift * max(image.shape[:2]) / side) for shift in shifts))
    methods["Classical: ground-plane prior"] = lambda: ground_plane_prior(image)
    table = Table(
        "Depth on a real photo: Middlebury motorcycle (scikit-image), disparity ground truth",
        ["Method", "Spearman", "AbsRel (aligned)"],
        notes=[f"{image.shape[1]}x{image.shape[0]} left view, {int(valid.sum())} pixels with known disparity; "
               "AbsRel after a least-squares scale and shift in inverse depth"],
    )
    for name, fn in methods.items():
        pred = np.asarray(fn(), np.float64)[valid]
        table.rows.append([name, rank_correlation(pred, gt), aligned_abs_rel(pred, gt)])
    return table


@register_table("depth")
def depth_table(model: Predictor, data: EvalData) -> list[Table]:
    """Seed 003 Table 1 layout (MAE after a 5-knot spline fit)."""
    shifts, views = _pipeline_views(model)
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        f"Ours: {model.description}": lambda im: predict_depth(model, im),
        "Ours, averaged with its mirror": lambda im: averaged_over_views(lambda view: predict_depth(model, view), im),
        # As the depth pipeline runs it.
        f"Ours, averaged over its {views}": lambda im: averaged_over_views(
            lambda view: predict_depth(model, view), im, shifts),
        "Identity: constant map": lambda im: np.full(im.shape[:2], 0.5, np.float32),
        "Classical: ground-plane prior": ground_plane_prior,
    }
    scores: dict[str, list[float]] = {m: [] for m in methods}
    for sample in _depth_samples(data):
        image = np.asarray(sample["image"], np.float32)
        for name, fn in methods.items():
            scores[name].append(depth_mae(fn(image), sample["depth"]))
    n = len(next(iter(scores.values())))
    table = Table(
        "Seed 003 Table 1 layout: depth prediction, MAE of normalized inverse depth",
        ["Method", "MAE"],
        notes=[f"{n} images; per-image 5-knot linear spline fit before the MAE (as the seed)"],
    )
    table.rows = [[name, float(np.mean(v))] for name, v in scores.items()]
    if data.folder is not None:
        return [table]
    return [table, real_photo_depth_table(model)]


def naive_gather_blur(image_linear: np.ndarray, depth: np.ndarray, focus: float, k_px: float) -> np.ndarray:
    """The naive baseline: every pixel averages a disc of its *own* CoC radius around it
    (per-pixel gather, no layers), so an in-focus subject bleeds into a blurred background and
    a blurred foreground stays cut off at its edge. Discs at whole-pixel radii, linear light."""
    import cv2

    from defocus_cli.ops.bokeh import aperture_kernel

    coc = np.abs(np.asarray(depth, np.float32) - np.float32(focus)) * np.float32(k_px)
    levels = np.rint(coc).astype(np.int32)
    out = np.array(image_linear, np.float32, copy=True)
    for radius in np.unique(levels):
        if radius < 1:
            continue
        kernel = aperture_kernel(float(radius))
        blurred = cv2.filter2D(image_linear, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
        mask = levels == radius
        out[mask] = blurred[mask]
    return out


def signed_input(depth: np.ndarray, focus: float, k_px: float, k_max_px: float) -> tuple[np.ndarray, bool]:
    """``alpha (D - d_f)`` with ``alpha = K / K_max`` clipped to 1; also whether it was clipped."""
    alpha = k_px / k_max_px
    return ((np.asarray(depth, np.float32) - focus) * min(alpha, 1.0)).astype(np.float32), alpha > 1.0 + 1e-6


@register_table("lens-blur")
def lens_blur_table(model: Predictor, data: EvalData, depth: Predictor | None = None) -> list[Table]:
    """Seed 003 Tables 2 and 3 layouts; ``depth`` adds the predicted-depth row of Table 3."""
    from defocus_cli.ops.color import linear_to_srgb, srgb_to_linear
    from defocus_cli.ops.render import render_from_depth

    k_max = float(model.metadata.get("max_blur_radius_px", 10.0))
    scores: dict[str, list[tuple[float, float]]] = {k: [] for k in ("identity", "gather", "classical", "gt", "corrupted", "pred")}
    clipped = 0

    def render(image: np.ndarray, d: np.ndarray, focus: float, k: float) -> np.ndarray:
        nonlocal clipped
        signed, was_clipped = signed_input(d, focus, k, k_max)
        clipped += was_clipped
        return np.clip(np.asarray(model({"image": image, "signed_depth": signed}), np.float32), 0, 1)

    for s in data.samples("test"):
        image, target = np.asarray(s["image"], np.float32), np.asarray(s["target"], np.float32)
        focus, k = float(s["focus_depth"]), float(s["blur_radius_px"])

        scores["identity"].append(pair_metrics(image, target))
        linear = srgb_to_linear(image)
        classical = render_from_depth(linear, np.asarray(s["depth"], np.float32), focus, k)
        scores["classical"].append(pair_metrics(np.clip(linear_to_srgb(np.clip(classical, 0, 1)), 0, 1), target))
        gather = naive_gather_blur(linear, np.asarray(s["depth"], np.float32), focus, k)
        scores["gather"].append(pair_metrics(np.clip(linear_to_srgb(np.clip(gather, 0, 1)), 0, 1), target))
        scores["gt"].append(pair_metrics(render(image, s["depth"], focus, k), target))
        if "depth_corrupted" in s:
            scores["corrupted"].append(pair_metrics(render(image, s["depth_corrupted"], focus, k), target))
        if depth is not None:
            scores["pred"].append(pair_metrics(render(image, predict_depth(depth, image), focus, k), target))

    def mean(key: str) -> list[float]:
        v = scores[key]
        return [float(np.mean([a for a, _ in v])), float(np.mean([b for _, b in v]))] if v else [float("nan")] * 2

    n = len(scores["identity"])
    notes = [f"{n} images; targets are light-field renders of the composites"]
    if clipped:
        notes.append(f"{clipped} renders asked for K above the model's max_blur_radius_px ({k_max}); alpha clipped to 1")
    t2 = Table("Seed 003 Table 2 layout: shallow DoF quality", ["Method", "PSNR", "SSIM"], notes=list(notes))
    t2.rows = [
        ["Identity (all-in-focus input)", *mean("identity")],
        ["Naive per-pixel gather blur + GT depth", *mean("gather")],
        ["Classical layered renderer + GT depth", *mean("classical")],
        [f"Ours + GT depth: {model.description}", *mean("gt")],
    ]
    t3 = Table("Seed 003 Table 3 layout: lens blur fed different depth", ["Depth input at test", "PSNR", "SSIM"], notes=list(notes))
    t3.rows = [["GT", *mean("gt")], ["Corrupted", *mean("corrupted")]]
    if depth is not None:
        t3.rows.append([f"Pred ({depth.description})", *mean("pred")])
    else:
        t3.notes.append("pass a depth model to add the predicted-depth (Pred) row")
    return [t2, t3]


register_eval_sampler("depth", depth_eval_sample)
register_eval_sampler("lens-blur", eval_sample)
