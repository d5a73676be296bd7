"""Seed 002 evaluation (``defocus eval defocus-map``): defocus-map errors and blur detection.

Two tables, laid out as the seed's:

* Table 2 layout: MSE, MAE and RMSE of the defocus map. Ours are in px of the input image (CoC
  radius, the project's unit; the seed reports maps on its own normalized scale), and in
  DMENet's sigma units (sigma = radius / 2).
* Fig. 4 layout: blurred/sharp accuracy. Each estimated map is binarized at
  ``tau = 0.3 * max + 0.7 * min`` (the seed, after Park et al.), and compared with the
  ground-truth blur mask: CUHK's binary masks, or ``radius >= 0.5 px`` (the project's "in
  focus" limit) on labelled data.

Rows: the model in one pass, averaged with its mirror, and averaged over the views
``defocus-map`` runs it on (the shifts its export lists, ``defocus export --view-shift``, or
else the mirror and a half-stride shift: four views); the identity-like baseline (an
all-zero map: "everything in focus"); and the classical edge-based estimate (:func:`defocus_cli.ops.defocus_classical.classical_defocus_map`).

Data: the held-out synthetic SYNDOF-style split by default; ``--data DIR`` takes a folder of
``.npz`` samples (``image``, ``coc_radius_px``), a SYNDOF folder (``image/`` +
``blur_map/``) or a CUHK folder (``image/`` + ``gt/``, accuracy only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from defocus_cli.ops.lens import IN_FOCUS_RADIUS_PX
from defocus_cli.training.evaluate import (
    EvalData,
    Predictor,
    Table,
    register_eval_sampler,
    register_table,
    reported,
)

#: Threshold position between the map's min and max (seed 002 §5.3).
TAU_ALPHA = 0.3
STRIDE = 16  # B's four poolings


def binarize(defocus_map: np.ndarray, alpha: float = TAU_ALPHA) -> np.ndarray:
    """Blurred (True) where the map exceeds ``tau = alpha * max + (1 - alpha) * min``.

    A constant map has nothing above its threshold: all sharp.

    >>> binarize(np.array([[0.0, 1.0, 10.0]])).tolist()
    [[False, False, True]]
    """
    v_max, v_min = float(np.max(defocus_map)), float(np.min(defocus_map))
    tau = alpha * v_max + (1.0 - alpha) * v_min
    return np.asarray(defocus_map) > tau


def blur_accuracy(defocus_map: np.ndarray, blurred: np.ndarray, alpha: float = TAU_ALPHA) -> float:
    """Fraction of pixels whose binarized map agrees with the blur mask (1 = blurred)."""
    return float(np.mean(binarize(defocus_map, alpha) == (np.asarray(blurred) >= 0.5)))


def map_errors(pred_px: np.ndarray, target_px: np.ndarray) -> tuple[float, float]:
    """(MSE px^2, MAE px) of two HxW radius maps."""
    err = np.asarray(pred_px, np.float64) - np.asarray(target_px, np.float64)
    return float(np.mean(err**2)), float(np.mean(np.abs(err)))


def eval_sample(rng: np.random.Generator, size: tuple[int, int], index: int) -> dict[str, np.ndarray]:
    """A held-out SYNDOF-style sample (seeds of the ``test`` split)."""
    from defocus_cli.data.tasks import syndof_sample

    return syndof_sample(rng, size)


def run_padded(model: Predictor, image: np.ndarray, stride: int = STRIDE) -> np.ndarray:
    """The model's HxW radius map, the image reflect-padded to ``stride`` first (B needs 16)."""
    from defocus_cli.models.tiling import pad_to_stride

    padded, (h, w) = pad_to_stride(np.asarray(image, np.float32), stride)
    out = np.asarray(model({"image": padded}))
    out = out[..., 0] if out.ndim == 3 else out
    return out[:h, :w]


def _samples(data: EvalData) -> Iterator[dict[str, np.ndarray]]:
    """``image`` + ``coc_radius_px`` and/or ``blurred`` dicts from the folder kinds above."""
    folder = data.folder
    if folder is not None and (Path(folder) / "blur_map").is_dir():
        from defocus_cli.data.readers import read_syndof

        for item in read_syndof(folder)[: data.count or None]:
            yield {"image": item.image, "coc_radius_px": item.coc_radius_px}
        return
    if folder is not None and (Path(folder) / "gt").is_dir():
        from defocus_cli.data.readers import read_cuhk

        for item in read_cuhk(folder)[: data.count or None]:
            yield {"image": item.image, "blurred": item.blurred}
        return
    yield from data.samples("test")


@register_table("defocus-map")
def defocus_map_table(model: Predictor, data: EvalData) -> list[Table]:
    """Seed 002 Table 2 (MSE/MAE/RMSE) and Fig. 4 (accuracy) layouts; see the module docstring."""
    from defocus_cli.ops.defocus_classical import classical_defocus_map
    from defocus_cli.ops.views import averaged_over_views, listed_view_shifts
    from defocus_cli.pipelines.defocus_learned import VIEW_SHIFTS_PX

    shifts = listed_view_shifts(model.metadata, VIEW_SHIFTS_PX)
    views = "mirror and half-stride shift" if shifts == VIEW_SHIFTS_PX else f"{2 * len(shifts)} views"

    def one_pass(image: np.ndarray) -> np.ndarray:
        return run_padded(model, image)

    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        f"DMENet (ours): {model.description}": one_pass,
        f"DMENet averaged with its mirror: {model.description}": lambda im: averaged_over_views(
            one_pass, im, shifts_px=(0,)),
        # As defocus-map runs it.
        f"DMENet averaged over {views} (as defocus-map): {model.description}": lambda im: averaged_over_views(
            one_pass, im, shifts),
        "Identity: zero map (all in focus)": lambda im: np.zeros(im.shape[:2], np.float32),
        "Classical: edge-based defocus map": classical_defocus_map,
    }
    errors: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
    accuracy: dict[str, list[float]] = {m: [] for m in methods}
    n = 0
    for sample in _samples(data):
        image = np.asarray(sample["image"], np.float32)
        image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
        target = sample.get("coc_radius_px")
        blurred = sample.get("blurred")
        if blurred is None and target is not None:
            blurred = (np.asarray(target) >= IN_FOCUS_RADIUS_PX).astype(np.float32)
        for name, fn in methods.items():
            pred = np.asarray(fn(image), np.float32)
            if target is not None:
                errors[name].append(map_errors(pred, target))
            accuracy[name].append(blur_accuracy(pred, blurred))
        n += 1
    tables = []
    if any(errors.values()):
        t2 = Table(
            "Seed 002 Table 2 layout: defocus map error (CoC radius in px; sigma = radius / 2)",
            ["Method", "MSE (px^2)", "MAE (px)", "RMSE (px)", "MSE sigma (px^2)", "MAE sigma (px)"],
            notes=[f"{n} images; RMSE is the root of the mean of the images' MSE; the seed's numbers "
                   "are on its own normalized map scale, not px"],
        )
        for name, rows in errors.items():
            mse, mae = float(np.mean([r[0] for r in rows])), float(np.mean([r[1] for r in rows]))
            t2.rows.append([name, mse, mae, float(np.sqrt(mse)), mse / 4.0, mae / 2.0])
        tables.append(t2)
    source = "CUHK masks" if data.folder is not None and (Path(data.folder) / "gt").is_dir() else f"radius >= {IN_FOCUS_RADIUS_PX} px"
    acc = Table(
        "Seed 002 Fig. 4 layout: blurred/sharp accuracy (tau = 0.3 max + 0.7 min)",
        ["Method", "Accuracy"],
        notes=[f"{n} images; ground truth: {source}"],
    )
    for name, values in accuracy.items():
        acc.rows.append([name, float(np.mean(values)) if values else float("nan")])
    tables.append(acc)
    if data.folder is None:  # the default split: also the real photo
        tables.append(real_photo_defocus_map_table(model, progress=data.progress))
    return tables


def real_photo_defocus_map_table(model: Predictor, long_side: int | None = None,
                                 progress: Callable[[str], None] | None = None) -> Table:
    """Error and accuracy on narrow-aperture renders of a real photo with measured depth
    (:func:`defocus_cli.data.real_scenes.middlebury_aperture_pairs`): the network in one pass,
    ``defocus-map --method learned`` as the command runs it (an .onnx model), the classical
    estimator and the zero map."""
    from defocus_cli.data import real_scenes
    from defocus_cli.ops.defocus_classical import classical_defocus_map

    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        f"DMENet (ours): {model.description}": lambda im: run_padded(model, im)}
    path = model.metadata.get("path")
    if path is not None and str(path).endswith(".onnx"):
        from defocus_cli.cli.model_options import open_model
        from defocus_cli.pipelines.defocus_learned import learned_defocus_map

        network = open_model("defocus-map", str(path), device="cpu")
        methods["defocus-map --method learned (the command)"] = lambda im: learned_defocus_map(im, network)
    methods["Identity: zero map (all in focus)"] = lambda im: np.zeros(im.shape[:2], np.float32)
    methods["Classical: edge-based defocus map"] = classical_defocus_map
    if progress is not None:
        progress("rendering the real photo")
    renders = list(real_scenes.middlebury_aperture_pairs(long_side, magnifications=(1.0,)))
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in methods}
    for pair in reported(renders, progress, "real photo render"):
        target = np.abs(pair["coc_radius_px"])
        for name, fn in methods.items():
            pred = np.asarray(fn(pair["narrow"]), np.float32)
            mse, mae = map_errors(pred, target)
            agree = (pred >= IN_FOCUS_RADIUS_PX) == (target >= IN_FOCUS_RADIUS_PX)
            rows[name].append((mse, mae, float(agree.mean())))
    h, w = renders[0]["narrow"].shape[:2]
    table = Table(
        "Defocus map on a real photo: Middlebury motorcycle (scikit-image) rendered from its measured disparity",
        ["Method", "MAE (px)", "RMSE (px)", "Blurred/sharp accuracy"],
        notes=[f"{len(renders)} narrow-aperture renders of the {w}x{h} photo ({real_scenes.pairs_description()}); "
               f"blurred: radius >= {IN_FOCUS_RADIUS_PX} px, in the map and in the truth"],
    )
    for name, values in rows.items():
        v = np.array(values, np.float64)
        table.rows.append([name, float(v[:, 1].mean()), float(np.sqrt(v[:, 0].mean())), float(v[:, 2].mean())])
    return table


register_eval_sampler("defocus-map", eval_sample)


def summary(tables: list[Table]) -> dict[str, Any]:
    """The tables as plain dicts (for JSON output and tests)."""
    return {t.title: t.as_dict() for t in tables}
