"""Paper-style evaluation tables: ``defocus eval TASK --model M [--data DIR]``.

Each task registers one table builder with :func:`register_table` (a duplicate task is an
error). A builder gets a :class:`Predictor` (the model: an exported ONNX file run through
onnxruntime, the path users get, or a training run folder run through torch) and an
:class:`EvalData` (the held-out synthetic split by default, or a folder of ``.npz``
samples), and returns :class:`Table`\\ s laid out as the seed's tables, each next to the
identity baseline (output = input) and, where one exists, a classical baseline.

Metrics: PSNR (dB) and SSIM of 8-bit sRGB outputs (:mod:`defocus_cli.ops.metrics`);
identical images (PSNR = inf) count as :data:`PSNR_CAP_DB` in means.

Registered here: ``magnify`` (seed 000 Table 1), ``deblur`` (seed 001 Table 1), ``refocus``
(seed 001 Table 2). Other tasks register from their own modules and are imported through
:data:`TABLE_MODULES`.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from defocus_cli.errors import DefocusError, UsageError, WeightsError
from defocus_cli.ops import metrics
from defocus_cli.training.datasets import sample_rng

PSNR_CAP_DB = 100.0
T = TypeVar("T")

#: Task -> module that registers its table (imported on demand).
TABLE_MODULES: dict[str, str] = {
    "magnify": "defocus_cli.training.evaluate",
    "deblur": "defocus_cli.training.evaluate",
    "refocus": "defocus_cli.training.evaluate",
    "defocus-map": "defocus_cli.training.systems.dmenet",
    "depth": "defocus_cli.training.systems.deeplens",
    "lens-blur": "defocus_cli.training.systems.deeplens",
}


# ---- metrics -------------------------------------------------------------------------------
def image_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean PSNR (dB, capped) and SSIM over a batch of NCHW sRGB [0, 1] images, computed on
    8-bit quantised values as the papers' tables are."""
    p = pred.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    t = target.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    scores = [pair_metrics(a, b) for a, b in zip(p, t, strict=True)]
    return {"psnr": float(np.mean([s[0] for s in scores])), "ssim": float(np.mean([s[1] for s in scores]))}


def pair_metrics(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(PSNR dB capped at :data:`PSNR_CAP_DB`, SSIM) of two HxWx3 sRGB [0, 1] images."""
    pred = np.clip(pred, 0.0, 1.0)
    value = metrics.psnr(pred, target)
    return min(value, PSNR_CAP_DB) if math.isfinite(value) else PSNR_CAP_DB, metrics.ssim(pred, target)


# ---- tables --------------------------------------------------------------------------------
@dataclass
class Table:
    """A titled table of strings and floats; :meth:`render` prints it aligned."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        def cell(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.3f}" if abs(v) < 1.5 else f"{v:.2f}"
            return str(v)

        cells = [self.columns] + [[cell(v) for v in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = [self.title, "  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells[1:]]
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "notes": self.notes}


TableBuilder = Callable[["Predictor", "EvalData"], list[Table]]
_TABLES: dict[str, TableBuilder] = {}


def register_table(task: str) -> Callable[[TableBuilder], TableBuilder]:
    """Decorator: the table builder of ``task``; registering a task twice raises ValueError."""

    def decorate(fn: TableBuilder) -> TableBuilder:
        if task in _TABLES and _TABLES[task] is not fn:
            raise ValueError(f"an evaluation table for {task!r} is registered twice")
        _TABLES[task] = fn
        return fn

    return decorate


def get_table(task: str) -> TableBuilder:
    if task not in _TABLES and task in TABLE_MODULES:
        importlib.import_module(TABLE_MODULES[task])
    if task not in _TABLES:
        raise UsageError(f"no evaluation table for task {task!r} (one of {', '.join(sorted(TABLE_MODULES))})")
    return _TABLES[task]


# ---- data ----------------------------------------------------------------------------------
@dataclass
class EvalData:
    """Evaluation samples: raw data-engine dicts (HxWx3 float32 sRGB, ...).

    ``samples(split)`` yields ``count`` items: from ``folder`` (``*.npz``, every file, for
    ``"test"``; a folder has no train split) or synthesised at ``size`` by ``sampler(rng,
    size, index)`` with seeds from ``(seed, split, index)``; ``"test"`` seeds are disjoint
    from every training and validation seed.
    """

    sampler: Callable[[np.random.Generator, tuple[int, int], int], dict[str, np.ndarray]] | None
    size: tuple[int, int] = (128, 128)
    count: int = 16
    seed: int = 0
    folder: Path | None = None
    #: Told "<what> i/n" before each item is scored (``defocus eval`` shows it on a terminal).
    progress: Callable[[str], None] | None = field(default=None, compare=False, repr=False)

    def splits(self) -> list[str]:
        return ["test"] if self.folder else ["train", "test"]

    def samples(self, split: str) -> Iterator[dict[str, np.ndarray]]:
        if self.folder is not None:
            files = sorted(Path(self.folder).rglob("*.npz"))
            if not files:
                raise UsageError(f"{self.folder} holds no .npz samples")
            files = files[: self.count] if self.count else files
            for path in reported(files, self.progress, f"{split} sample"):
                with np.load(path) as data:
                    yield {k: np.asarray(data[k]) for k in data.files}
            return
        if self.sampler is None:
            raise UsageError("this task needs --data DIR")
        for i in reported(range(self.count), self.progress, f"{split} sample"):
            yield self.sampler(sample_rng(self.seed, split, i), self.size, i)


def reported(items: Sequence[T], progress: Callable[[str], None] | None, what: str) -> Iterator[T]:
    """``items`` one by one, telling ``progress`` "``what`` i/n" before each."""
    for i, item in enumerate(items):
        if progress is not None:
            progress(f"{what} {i + 1}/{len(items)}")
        yield item


# ---- models --------------------------------------------------------------------------------
class Predictor:
    """Runs a model on named HxWxC (or scalar) numpy inputs and returns HxWxC output(s).

    ``Predictor.load(path)``: an ``.onnx`` file runs through onnxruntime (inputs reflect-padded
    to the stride, outputs cropped back); a run folder runs its last checkpoint in torch.
    """

    def __init__(self, fn: Callable[[dict[str, np.ndarray]], np.ndarray], input_names: list[str], description: str,
                 metadata: dict[str, Any] | None = None) -> None:
        self.fn, self.input_names, self.description = fn, input_names, description
        self.metadata = metadata or {}

    def __call__(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise UsageError(f"model {self.description} needs inputs {missing}")
        return self.fn({n: inputs[n] for n in self.input_names})

    @classmethod
    def load(cls, path: str | Path, stride: int = 4) -> Predictor:
        p = Path(path)
        if p.is_dir():
            return cls.from_run(p)
        if p.suffix.lower() == ".onnx" and p.is_file():
            return cls.from_onnx(p, stride)
        raise UsageError(f"--model {p}: expected an .onnx file or a training run folder")

    @classmethod
    def from_onnx(cls, path: Path, stride: int = 4) -> Predictor:
        from defocus_cli.models.session import import_onnxruntime

        ort = import_onnxruntime()
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - a broken file is the user's to fix
            raise WeightsError(f"cannot load {path}: {str(error).splitlines()[0]}") from None
        names = [i.name for i in session.get_inputs()]
        meta = dict(session.get_modelmeta().custom_metadata_map)
        metadata = {k: json.loads(v) for k, v in meta.items() if k.startswith("defocus.")}
        metadata = {k.removeprefix("defocus."): v for k, v in metadata.items()}
        stride = int(metadata.get("stride", stride))  # exports record their own stride

        def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
            feed, size = _to_nchw(inputs, stride)
            out = session.run(None, feed)[0]
            return out[0, :, : size[0], : size[1]].transpose(1, 2, 0)

        return cls(run, names, f"{path.name} (onnxruntime)", {**metadata, "path": str(path)})

    @classmethod
    def from_run(cls, run: Path) -> Predictor:
        from defocus_cli.training.export import load_trained_system

        system, _ = load_trained_system(run)
        module = system.inference_module().eval()
        contract = system.export_contract()
        names = [t.name for t in contract.inputs]

        @torch.no_grad()
        def run_torch(inputs: dict[str, np.ndarray]) -> np.ndarray:
            feed, size = _to_nchw(inputs, system.stride)
            out = module(*[torch.from_numpy(feed[n]) for n in names])
            out = out[0] if isinstance(out, tuple) else out  # the first output, as from_onnx
            return out[0, :, : size[0], : size[1]].permute(1, 2, 0).numpy()

        return cls(run_torch, names, f"{run.name} (torch run)", dict(contract.extra))


def _to_nchw(inputs: dict[str, np.ndarray], stride: int) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    from defocus_cli.models.tiling import pad_to_stride

    feed: dict[str, np.ndarray] = {}
    size = (0, 0)
    for name, value in inputs.items():
        a = np.asarray(value, np.float32)
        if a.ndim <= 1:
            feed[name] = a.reshape(1, 1)
            continue
        padded, size = pad_to_stride(a, stride)
        padded = padded[..., None] if padded.ndim == 2 else padded
        feed[name] = np.ascontiguousarray(padded.transpose(2, 0, 1)[None])
    return feed, size


def _mean(scores: list[tuple[float, float]]) -> tuple[float, float]:
    return float(np.mean([s[0] for s in scores])), float(np.mean([s[1] for s in scores]))


# ---- seed 000 Table 1 ----------------------------------------------------------------------
def magnify_eval_sample(rng: np.random.Generator, size: tuple[int, int], index: int) -> dict[str, np.ndarray]:
    """The seed's aperture stacks: m = 2, 3, 4 in turn."""
    from defocus_cli.data.tasks import magnify_sample

    return magnify_sample(rng, size, m=float(2 + index % 3))


def _classical_magnify() -> Callable[[np.ndarray, float], np.ndarray] | None:
    """``magnify --method map`` from the inference pipelines, when that module exists."""
    try:
        module = importlib.import_module("defocus_cli.pipelines.magnify")
    except ImportError:
        return None
    fn = getattr(module, "magnify", None)
    if fn is None:
        return None

    def run(image: np.ndarray, m: float) -> np.ndarray:
        return np.asarray(fn(image, m=m, method="map"), np.float32)

    return run


@register_table("magnify")
def magnify_table(model: Predictor, data: EvalData) -> list[Table]:
    from defocus_cli.ops.focus import composite_focus_measure

    splits = data.splits()
    classical = _classical_magnify()
    methods: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {
        "Identity (output = input)": lambda s: s["narrow"],
        f"Model: {model.description}": lambda s: model(
            {"image": s["narrow"], "focus": composite_focus_measure(s["narrow"]), "m": np.float32(s["m"])}),
    }
    notes = []
    if classical is not None:
        methods["Classical: magnify --method map"] = lambda s: classical(s["narrow"], float(s["m"]))
    else:
        notes.append("classical baseline (magnify --method map) not available in this installation")
    results = {name: {} for name in methods}
    for split in splits:
        scores: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
        for s in data.samples(split):
            for name, fn in methods.items():
                try:
                    scores[name].append(pair_metrics(fn(s), s["wide"]))
                except Exception as error:  # noqa: BLE001 - a failing baseline is reported, not fatal
                    if name.startswith("Classical"):
                        notes.append(f"classical baseline failed: {error}")
                        scores[name] = []
                        break
                    raise
        for name in methods:
            results[name][split] = _mean(scores[name]) if scores[name] else (float("nan"), float("nan"))
    columns = ["Method"]
    for split in splits:
        label = "Train" if split == "train" else "Test"
        columns += [f"{label} PSNR (dB)", f"{label} SSIM"]
    table = Table("Seed 000 Table 1 layout: narrow -> wide aperture (m = 2, 3, 4)", columns, notes=notes)
    for name, per_split in results.items():
        row: list[Any] = [name]
        for split in splits:
            row += list(per_split[split])
        table.rows.append(row)
    return [table, *magnify_pipeline_tables(model, data)]


def in_focus_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, capped) over the pixels of ``mask`` only (8-bit values, as the tables)."""
    if not mask.any():
        return float("nan")
    a = np.round(np.clip(pred, 0, 1) * 255)[mask]
    b = np.round(np.clip(target, 0, 1) * 255)[mask]
    mse = float(np.mean((a - b) ** 2))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * np.log10(255.0**2 / mse))


def _pipeline_methods(model: Predictor) -> dict[str, Callable[[np.ndarray, float], np.ndarray]]:
    """The shipped ``magnify`` pipelines: the gan with this model (when it is an .onnx file) and
    the map method on the classical and, when one is installed, the learned defocus map."""
    from defocus_cli.cli.model_options import open_model
    from defocus_cli.pipelines.defocus_map import defocus_map
    from defocus_cli.pipelines.magnify import magnify

    methods: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {}
    path = model.metadata.get("path")
    gan = open_model("magnify", str(path), device="cpu") if path else None
    if gan is not None:
        methods["magnify --method gan (classical map)"] = lambda x, m: magnify(x, m, "gan", model=gan)
    methods["magnify --method map (classical map)"] = lambda x, m: magnify(x, m, "map", grain=False)
    try:
        estimator = open_model("defocus-map", None, device="cpu", offline=True)
    except DefocusError:
        return methods

    def learned_map(x: np.ndarray, m: float) -> np.ndarray:
        return magnify(x, m, "map", defocus_map_px=defocus_map(x, "learned", model=estimator), grain=False)

    name = estimator.spec.name
    methods[f"magnify --method map ({name} map)"] = learned_map
    # the commands' default with a defocus-map model installed: the fused map
    if gan is not None:
        methods[f"magnify --method gan (fused map, {name})"] = lambda x, m: magnify(
            x, m, "gan", model=gan, map_model=estimator)
    methods[f"magnify --method map (fused map, {name})"] = lambda x, m: magnify(
        x, m, "map", map_model=estimator, grain=False)
    return methods


IN_FOCUS_NOTE = "in-focus: pixels with CoC radius < 0.5 px at the wide aperture that no nearer blur reaches; PSNR in dB"


def magnify_pipeline_tables(model: Predictor, data: EvalData) -> list[Table]:
    """Per magnification, on the test split and (with the default split) on renders of a real
    photo: PSNR/SSIM and the PSNR of in-focus pixels for the identity, the bare network and the
    pipelines."""
    from defocus_cli.ops.focus import composite_focus_measure

    methods: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
        "Identity (output = input)": lambda x, m: x,
        "Network alone, whole image": lambda x, m: model(
            {"image": x, "focus": composite_focus_measure(x), "m": np.float32(m)}),
        **_pipeline_methods(model),
    }
    tables = [magnify_by_m_table("Magnification by m (test split) and in-focus pixels", methods,
                                 data.samples("test"), [IN_FOCUS_NOTE])]
    if data.folder is None:  # the default split: also the real photo
        tables.append(real_photo_magnify_table(methods, progress=data.progress))
    return tables


def real_photo_magnify_table(methods: dict[str, Callable[[np.ndarray, float], np.ndarray]],
                             long_side: int | None = None, progress: Callable[[str], None] | None = None) -> Table:
    """:func:`magnify_by_m_table` on aperture pairs rendered from a real photo with measured
    depth (:func:`defocus_cli.data.real_scenes.middlebury_aperture_pairs`)."""
    from defocus_cli.data import real_scenes

    if progress is not None:
        progress("rendering the real photo's aperture pairs")
    pairs = list(real_scenes.middlebury_aperture_pairs(long_side))
    h, w = pairs[0]["narrow"].shape[:2]
    note = f"{len(pairs)} pairs of the {w}x{h} photo: {real_scenes.pairs_description()}, m = 2, 3, 4"
    return magnify_by_m_table("Magnification on a real photo: Middlebury motorcycle (scikit-image) rendered "
                              "from its measured disparity", methods, reported(pairs, progress, "real photo pair"),
                              [note, IN_FOCUS_NOTE])


def magnify_by_m_table(title: str, methods: dict[str, Callable[[np.ndarray, float], np.ndarray]],
                       samples: Iterable[dict[str, np.ndarray]], notes: list[str]) -> Table:
    """PSNR, SSIM and in-focus PSNR of each method at m = 2, 3, 4 over aperture pairs with a
    ground-truth ``coc_radius_px`` (other pairs are skipped)."""
    from defocus_cli.ops.lens import IN_FOCUS_RADIUS_PX

    ms = (2.0, 3.0, 4.0)
    scores = {name: {m: [] for m in ms} for name in methods}
    for s in samples:
        m = float(s["m"])
        if m not in ms or "coc_radius_px" not in s:
            continue
        # In focus: sharp at the wide aperture and out of reach of nearer blur, i.e. the
        # pixels a magnification must leave alone.
        unchanged = np.abs(s["wide"] - s["narrow"]).max(axis=2) < 0.5 / 255
        sharp = (np.abs(s["coc_radius_px"]) * m < IN_FOCUS_RADIUS_PX) & unchanged
        for name, fn in methods.items():
            out = np.asarray(fn(s["narrow"], m), np.float32)
            scores[name][m].append((*pair_metrics(out, s["wide"]), in_focus_psnr(out, s["wide"], sharp)))
    columns = ["Method"] + [f"m={m:g} {c}" for m in ms for c in ("PSNR", "SSIM", "in-focus PSNR")]
    table = Table(title, columns, notes=notes)
    for name, per_m in scores.items():
        row: list[Any] = [name]
        for m in ms:
            if not per_m[m]:
                row += [float("nan")] * 3
                continue
            values = np.array(per_m[m], np.float64)
            row += [float(np.mean(values[:, 0])), float(np.mean(values[:, 1])), float(np.nanmean(values[:, 2]))]
        table.rows.append(row)
    return table


# ---- seed 001 Table 1 ----------------------------------------------------------------------
def focal_stack_eval_sample(rng: np.random.Generator, size: tuple[int, int], index: int,
                            blur_radius_px: tuple[float, float] = (4.0, 10.0)) -> dict[str, np.ndarray]:
    """A held-out 10-slice focal stack with K ~ U(``blur_radius_px``), the data engine's default
    unless the model records the range it was trained on."""
    from defocus_cli.data.tasks import focal_stack_sample

    return focal_stack_sample(rng, size, blur_radius_px=blur_radius_px)


def composite_all_in_focus(slices: np.ndarray) -> np.ndarray:
    """Classical all-in-focus from a whole focal stack: per pixel, the slice whose composite
    focus measure is highest (seed 001 Table 1, last row)."""
    from defocus_cli.ops.focus import composite_focus_measure

    measures = np.stack([composite_focus_measure(s) for s in slices])
    best = measures.argmax(axis=0)
    return np.take_along_axis(slices, best[None, :, :, None].repeat(3, axis=3), axis=0)[0]


def mirrored(model: Predictor, feed: dict[str, np.ndarray], passes: int) -> np.ndarray:
    """``model`` on ``feed`` averaged over ``passes`` mirrored copies, as the ``deblur`` and
    ``refocus`` commands run it (:mod:`defocus_cli.ops.views`), clipped to [0, 1]."""
    from defocus_cli.ops.views import flip_averaged_feed

    return np.clip(flip_averaged_feed(lambda f: np.clip(model(f), 0, 1), feed, passes), 0, 1)


def _passes_label(passes: int) -> str:
    return f"{passes} mirrored passes averaged" if passes > 1 else "one pass"


@register_table("deblur")
def deblur_table(model: Predictor, data: EvalData, passes: int = 1) -> list[Table]:
    """Seed 001 Table 1; ``passes`` > 1 adds the row of the network averaged over that many
    mirrored copies of each slice (``deblur --passes``)."""
    from defocus_cli.ops.focus import sml

    scores: dict[str, list[tuple[float, float]]] = {"identity": [], "model": [], "mirrored": [], "composite": []}
    for s in data.samples("test"):
        slices, target = np.asarray(s["slices"], np.float32), np.asarray(s["all_in_focus"], np.float32)
        for image in slices:
            feed = {"image": image, "sml": sml(image)}
            scores["identity"].append(pair_metrics(image, target))
            scores["model"].append(pair_metrics(model(feed), target))
            if passes > 1:
                scores["mirrored"].append(pair_metrics(mirrored(model, feed, passes), target))
        scores["composite"].append(pair_metrics(composite_all_in_focus(slices), target))
    table = Table("Seed 001 Table 1 layout: deblurring (every slice of each test stack)",
                  ["Deblurring experiment", "PSNR", "SSIM"])
    table.rows = [
        ["Identity (input slice)", *_mean(scores["identity"])],
        [f"Ours: {model.description}", *_mean(scores["model"])],
    ]
    if passes > 1:
        table.rows.append([f"Ours, {_passes_label(passes)}", *_mean(scores["mirrored"])])
    table.rows.append(["Composite Focus Measure (uses entire stack)", *_mean(scores["composite"])])
    table.notes += _blur_note(model)
    return [table]


# ---- seed 001 Table 2 ----------------------------------------------------------------------
#: The refocus steps of seed 001 Table 2.
TABLE2_DELTAS = (-9, -5, 5, 9)


@register_table("refocus")
def refocus_table(model: Predictor, data: EvalData, deblur: Predictor | None = None, passes: int = 1,
                  all_steps: bool = False) -> list[Table]:
    """Seed 001 Table 2; ``passes`` > 1 adds the full pipeline with each network averaged over
    that many mirrored copies (``refocus --passes``). ``all_steps`` scores every step from -9
    to 9 as ``refocus`` renders it (a step the model was not trained on as the blend of the
    nearest trained ones, :func:`~defocus_cli.pipelines.refocus.delta_blend`)."""
    from defocus_cli.ops.focus import sml
    from defocus_cli.pipelines.refocus import ALL_DELTAS, blend_passes, delta_blend

    two_stage = "radiance" in model.input_names
    trained = sorted({int(d) for d in model.metadata.get("deltas", TABLE2_DELTAS)})
    deltas = list(ALL_DELTAS) if all_steps else trained
    # The headline rows keep the seed's layout when the model knows its steps; the
    # per-step table shows every step scored.
    headline = [d for d in deltas if d in TABLE2_DELTAS] if set(TABLE2_DELTAS) <= set(deltas) else deltas
    rows: dict[str, list[tuple[float, float]]] = {"identity": [], "gt": [], "g1": [], "mirrored": []}
    by_delta: dict[tuple[str, int], list[float]] = {}
    for index, s in enumerate(data.samples("test")):
        slices, aif = np.asarray(s["slices"], np.float32), np.asarray(s["all_in_focus"], np.float32)
        rng = sample_rng(data.seed + 1, "test", index)
        for delta in deltas:
            valid = [i for i in range(len(slices)) if 0 <= i + delta < len(slices)]
            i = valid[int(rng.integers(0, len(valid)))]
            image, target = slices[i], slices[i + delta]
            blend = delta_blend(delta, trained)
            scored = {"identity": pair_metrics(image, target)}
            feed = {"image": image, "radiance": aif}
            scored["gt"] = pair_metrics(_blended(feed, model, blend), target)
            if two_stage and deblur is not None:
                g1_feed = {"image": image, "sml": sml(image)}
                feed["radiance"] = np.clip(deblur(g1_feed), 0, 1)
                scored["g1"] = pair_metrics(_blended(feed, model, blend), target)
                if passes > 1:
                    feed["radiance"] = mirrored(deblur, g1_feed, passes)
                    g2 = functools.partial(mirrored, model, passes=blend_passes(blend, passes))
                    scored["mirrored"] = pair_metrics(_blended(feed, g2, blend), target)
            for key, value in scored.items():
                if delta in headline:
                    rows[key].append(value)
                by_delta.setdefault((key, delta), []).append(value[0])
    steps = "{" + ", ".join(f"{d:+d}" for d in headline) + "}"
    kind = "Two-stage" if two_stage else "Single-stage"
    table = Table("Seed 001 Table 2 layout: refocusing", ["Experiment", "Type", "Refocus control steps", "PSNR", "SSIM"])
    table.rows.append(["Identity (input slice, no refocus)", "-", steps, *_mean(rows["identity"])])
    label = "With G^r (ground-truth radiance)" if two_stage else "Without G^r"
    table.rows.append([f"{label}: {model.description}", kind, steps, *_mean(rows["gt"])])
    if rows["g1"]:
        table.rows.append([f"With G^r from the deblur model: {deblur.description}", kind, steps, *_mean(rows["g1"])])
    if rows["mirrored"]:
        table.rows.append([f"The same, each network with {_passes_label(passes)}", kind, steps,
                           *_mean(rows["mirrored"])])
    elif two_stage:
        table.notes.append("pass --deblur-model to add the row that feeds G1's radiance (the full pipeline)")
    table.notes += _blur_note(model)
    per_delta = Table("Refocusing PSNR (dB) by control step", ["Method", *(f"{d:+d}" for d in deltas)])
    names = {"identity": "Identity", "gt": f"{kind}, {'ground-truth radiance' if two_stage else 'slice only'}",
             "g1": f"{kind}, radiance from the deblur model",
             "mirrored": f"{kind}, radiance from the deblur model, {_passes_label(passes)}"}
    for key, name in names.items():
        if rows[key]:
            per_delta.rows.append([name, *(float(np.mean(by_delta[(key, d)])) for d in deltas)])
    return [table, per_delta]


def _blended(feed: dict[str, np.ndarray], run: Callable[[dict[str, np.ndarray]], np.ndarray],
             blend: tuple[tuple[int, float], ...]) -> np.ndarray:
    """G2's output for a step blend, as ``refocus`` makes it, with ``run`` fed each step."""
    from defocus_cli.pipelines.refocus import blended

    return blended(blend, feed["image"], lambda step: run({**feed, "delta": np.float32(step)}))


def _blur_note(model: Predictor) -> list[str]:
    blur = model.metadata.get("training_blur_radius_px")
    return [f"held-out focal stacks with K ~ U({blur[0]:g}, {blur[1]:g}) px, the model's training blur"] if blur else []


#: Tasks whose commands average their networks over mirrored copies (``--passes``).
PASSES_TASKS = ("deblur", "refocus")

#: The default synthetic sampler of each task's evaluation data.
EVAL_SAMPLERS: dict[str, Callable[[np.random.Generator, tuple[int, int], int], dict[str, np.ndarray]]] = {
    "magnify": magnify_eval_sample,
    "deblur": focal_stack_eval_sample,
    "refocus": focal_stack_eval_sample,
}


def register_eval_sampler(task: str, sampler: Callable[[np.random.Generator, tuple[int, int], int], dict[str, np.ndarray]]) -> None:
    """Register the synthetic evaluation sampler of ``task`` (duplicates refused)."""
    if task in EVAL_SAMPLERS and EVAL_SAMPLERS[task] is not sampler:
        raise ValueError(f"an evaluation sampler for {task!r} is registered twice")
    EVAL_SAMPLERS[task] = sampler


def evaluate(task: str, model: str | Path, *, data_dir: str | Path | None = None, size: tuple[int, int] = (128, 128),
             count: int = 16, seed: int = 0, extra_models: dict[str, str | Path] | None = None,
             passes: int = 1, all_steps: bool = False, progress: Callable[[str], None] | None = None) -> list[Table]:
    """Build ``task``'s tables for ``model`` (an .onnx file or a run folder); ``passes`` > 1
    adds the mirrored-ensemble rows of the tasks whose commands average (deblur, refocus);
    ``all_steps`` scores refocus at every step, as the command renders it; ``progress`` is
    told what is being scored (see :class:`EvalData`)."""
    if passes > 1 and task not in PASSES_TASKS:
        raise UsageError(f"--passes is for eval {' and '.join(PASSES_TASKS)}")
    if all_steps and task != "refocus":
        raise UsageError("--all-steps is for eval refocus")
    builder = get_table(task)
    predictor = Predictor.load(model)
    folder = Path(data_dir) if data_dir else None
    if folder is not None and not folder.is_dir():
        raise UsageError(f"--data {folder} is not a folder")
    sampler = EVAL_SAMPLERS.get(task)
    trained_blur = predictor.metadata.get("training_blur_radius_px")
    if sampler is focal_stack_eval_sample and trained_blur:
        # Held-out stacks from the blur distribution the model was trained on.
        sampler = functools.partial(focal_stack_eval_sample, blur_radius_px=tuple(float(v) for v in trained_blur))
    data = EvalData(sampler, size=size, count=count, seed=seed, folder=folder, progress=progress)
    kwargs: dict[str, Any] = {k: Predictor.load(v) for k, v in (extra_models or {}).items() if v}
    if passes > 1:
        kwargs["passes"] = passes
    if all_steps:
        kwargs["all_steps"] = True
    return builder(predictor, data, **kwargs)
