"""``defocus export RUN -o model.onnx``: a trained run to a single-file ONNX model, its
ModelSpec entry and its model card.

The graph is :meth:`TrainingSystem.inference_module`, exported with the dynamo-based exporter
(``torch.onnx.export(..., dynamo=True)``) at opset :data:`OPSET`, with dynamic batch, height
and width (H and W declared as multiples of the system's stride, which the inference pipelines
pad to) and all weights inside the file (``external_data=False``). Before anything is
written for keeps, torch and onnxruntime are run on the same random inputs at two sizes
(:data:`CHECK_SIZES`, one non-square); a max abs difference >= :data:`TOLERANCE` refuses the
export and removes the file.

The ModelSpec (name, task, file, sha256, I/O names and layouts, preprocessing, stride) is
returned, written as ``<output>.spec.json`` next to the model, and added to a manifest only
when one is named (``--manifest FILE``; the bundled ``weights/manifest.json`` only with
``--manifest bundled``), so exporting never edits the shipped weights by accident.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from defocus_cli.errors import DefocusError, UsageError
from defocus_cli.models.registry import ModelSpec, add_manifest_entry, manifest_path, spec_to_dict
from defocus_cli.ops.views import VIEW_SHIFTS_KEY
from defocus_cli.training.ensemble import OutputMean, ensemble_module
from defocus_cli.training.loop import (
    NOTES_NAME,
    build_system,
    find_checkpoint,
    load_checkpoint,
    load_run_config,
    read_metrics,
)
from defocus_cli.training.template import TrainingSystem

OPSET = 18
TOLERANCE = 1e-4
#: A float16-stored export (``--float16-weights``) may differ from torch by this share of the
#: output's largest magnitude (at least 1): rounding weights to 11 significant bits moves the
#: shipped networks' outputs by about 1e-3 of their range; a broken conversion moves them far more.
FLOAT16_TOLERANCE = 5e-3
#: (H, W) pairs the export is checked at, in multiples of 4; the first one traces the graph.
CHECK_SIZES: tuple[tuple[int, int], ...] = ((64, 64), (48, 80))


def load_trained_system(run: str | Path, checkpoint: str | Path | None = None,
                        average_with: Sequence[str | Path] = ()) -> tuple[TrainingSystem, dict[str, Any]]:
    """The system of a run folder with its last (or the given) checkpoint loaded, on CPU, in
    eval mode; returns ``(system, checkpoint_state)``. ``average_with``: checkpoints of other
    runs of the same system and width whose network weights are averaged with it (see
    :func:`average_network_weights`)."""
    run = Path(run)
    config = load_run_config(run)
    config["train"]["device"] = "cpu"
    path = Path(checkpoint) if checkpoint else find_checkpoint(run)
    if path is None or not path.is_file():
        raise UsageError(f"{run} has no checkpoint yet (train it first)")
    state = load_checkpoint(path)
    if average_with:
        others = [Path(other) for other in average_with]
        networks = average_network_weights([state["system"]["networks"],
                                            *(_networks_of(other) for other in others)])
        state = {**state, "system": {"networks": networks},
                 "averaged_with": [_source_label(other, parts=3) for other in others]}
    system = build_system(config, "cpu")
    system.load_state_dict(state["system"])
    system.eval()
    return system, state


def _source_label(path: Path, parts: int = 2) -> str:
    """A checkpoint, run folder or model file as the card names it: its last ``parts`` path
    parts (no machine-specific prefix)."""
    return "/".join(path.parts[-parts:])


def _networks_of(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UsageError(f"--average-with {path}: no such checkpoint")
    state = load_checkpoint(path)
    if "system" not in state or "networks" not in state["system"]:
        raise UsageError(f"--average-with {path}: not a training checkpoint")
    return state["system"]["networks"]


def average_network_weights(states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The element-wise mean of several network state dicts of one architecture (a "model
    soup"): runs fine-tuned from the same weights stay in one basin, where their mean keeps
    what each learned. Non-float entries (BatchNorm counters) come from the first. Raises
    UsageError when the dicts do not hold the same tensors."""
    first = states[0]
    for other in states[1:]:
        if other.keys() != first.keys() or any(other[k].shape != first[k].shape for k in first):
            raise UsageError("--average-with needs checkpoints of the same system and width as the run")
    return {key: (sum(state[key] for state in states) / len(states)) if value.is_floating_point() else value
            for key, value in first.items()}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _dynamic_shapes(system: TrainingSystem, module: torch.nn.Module | None = None) -> tuple[Any, ...]:
    """Dynamic batch, height and width of each input of the contract; for a module that takes
    its inputs as ``*inputs`` (an ensemble), one entry holding them all, as torch.export
    matches ``dynamic_shapes`` to the forward's parameters."""
    contract = system.export_contract()
    s = system.stride
    batch = torch.export.Dim("batch", min=1, max=64)
    # Sides are stride * k: the pipelines pad to the stride, and the exporter can then prove
    # that the two stride-2 halvings and doublings give back the input size.
    height = s * torch.export.Dim("h_over_stride", min=2, max=4096)
    width = s * torch.export.Dim("w_over_stride", min=2, max=4096)
    shapes = []
    for spec in contract.inputs:
        dims: dict[int, Any] = {0: batch}
        if "H" in spec.layout:
            dims[spec.layout.index("H")] = height
        if "W" in spec.layout:
            dims[spec.layout.index("W")] = width
        shapes.append(dims)
    return (tuple(shapes),) if isinstance(module, OutputMean) else tuple(shapes)


def export_onnx(system: TrainingSystem, output: Path, sizes: tuple[tuple[int, int], ...] = CHECK_SIZES,
                opset: int = OPSET, metadata: dict[str, Any] | None = None,
                module: torch.nn.Module | None = None, float16_weights: bool = False) -> float:
    """Export ``system``'s inference graph (or ``module``, with the same inputs and outputs)
    to ``output`` and check it against torch at ``sizes``; returns the max abs difference
    seen. Raises :class:`DefocusError` (and removes the file) on a mismatch.

    ``float16_weights``: store the large weights as float16 (:mod:`.half_storage`), after the
    float32 graph passed the check; the file is then checked again, within
    :data:`FLOAT16_TOLERANCE`, and the difference returned is the stored file's."""
    import onnx

    from defocus_cli.training.half_storage import store_weights_as_float16

    contract = system.export_contract()
    module = (module if module is not None else system.inference_module()).eval()
    for h, w in sizes:
        if h % system.stride or w % system.stride:
            raise UsageError(f"check size {h}x{w} is not a multiple of the stride {system.stride}")
    torch.manual_seed(0)
    example = contract.example(*sizes[0])
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        with torch.no_grad(), _quiet_exporter():
            program = torch.onnx.export(
                module, example, dynamo=True, opset_version=opset, external_data=False,
                input_names=[t.name for t in contract.inputs], output_names=[t.name for t in contract.outputs],
                dynamic_shapes=_dynamic_shapes(system, module), verbose=False,
            )
        program.save(str(tmp), external_data=False)
        model = onnx.load(str(tmp))
        strip_stack_traces(model)
        for key, value in (metadata or {}).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = f"defocus.{key}", json.dumps(value)
        onnx.save(model, str(tmp))
        worst = check_parity(module, tmp, contract, sizes)
        if float16_weights:
            store_weights_as_float16(model)
            onnx.save(model, str(tmp))
            worst = check_parity(module, tmp, contract, sizes, tolerance=FLOAT16_TOLERANCE, relative=True)
        os.replace(tmp, output)
        return worst
    finally:
        tmp.unlink(missing_ok=True)


#: Node metadata the exporter records: the Python stack that built each node, with the
#: absolute paths of the machine that exported it. A shipped model must not carry them.
STACK_TRACE_KEY = "pkg.torch.onnx.stack_trace"


def strip_stack_traces(model: Any) -> int:
    """Remove :data:`STACK_TRACE_KEY` from every node of ``model`` (an ``onnx.ModelProto``,
    changed in place; its graph, subgraphs and functions); returns how many were removed. The
    computation is untouched."""
    import onnx

    def graphs(graph: Any) -> Iterator[Any]:
        yield graph
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    yield from graphs(attribute.g)
                for sub in attribute.graphs:
                    yield from graphs(sub)

    removed = 0
    for nodes in [g.node for g in graphs(model.graph)] + [f.node for f in model.functions]:
        for node in nodes:
            kept = [entry for entry in node.metadata_props if entry.key != STACK_TRACE_KEY]
            if len(kept) < len(node.metadata_props):
                removed += len(node.metadata_props) - len(kept)
                del node.metadata_props[:]
                node.metadata_props.extend(kept)
    return removed


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's internal warnings and log lines (e.g. about torchvision ops
    this graph never uses); real failures still raise."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def check_parity(module: torch.nn.Module, path: Path, contract: Any, sizes: tuple[tuple[int, int], ...],
                 outputs: tuple[str, ...] | None = None, tolerance: float = TOLERANCE,
                 relative: bool = False) -> float:
    """Max abs difference of torch vs onnxruntime over ``sizes``, on the contract's outputs
    (or those named in ``outputs``); raises on >= ``tolerance``, which with ``relative`` is a
    share of each output's largest magnitude (at least 1)."""
    from defocus_cli.models.session import import_onnxruntime

    ort = import_onnxruntime()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [t.name for t in contract.outputs]
    compared = [i for i, name in enumerate(names) if outputs is None or name in outputs]
    worst = 0.0
    for i, (h, w) in enumerate(sizes):
        torch.manual_seed(1000 + i)
        inputs = contract.example(h, w)
        with torch.no_grad():
            expected = module(*inputs)
        expected = expected if isinstance(expected, tuple | list) else (expected,)
        expected = [expected[i] for i in compared]
        feed = {t.name: x.numpy() for t, x in zip(contract.inputs, inputs, strict=True)}
        got = session.run([names[i] for i in compared], feed)
        for e, g in zip(expected, got, strict=True):
            if tuple(e.shape) != tuple(g.shape):
                raise DefocusError(f"export check failed at {h}x{w}: onnxruntime gives shape {g.shape}, torch {tuple(e.shape)}")
            diff = float(np.abs(e.numpy() - g).max())
            worst = max(worst, diff)
            bound = tolerance * max(1.0, float(e.abs().max())) if relative else tolerance
            if not math.isfinite(diff) or diff >= bound:
                raise DefocusError(
                    f"export check failed at {h}x{w}: max |torch - onnxruntime| = {diff:.3g} >= {bound:.3g}; "
                    "the model was not written")
    return worst


#: Notes of a run that describe its data and machine, not one of its networks.
_RUN_NOTES = {"data", "val_data", "hardware", "torch", "world_size"}


def model_card(system: TrainingSystem, run: Path, spec: ModelSpec, state: dict[str, Any], parity: float,
               part: str | None = None) -> str:
    """A markdown model card: data, config, steps, wall time, hardware, losses used, metrics.
    For a ``part`` of the run, the run's notes on its main network give way to the part's own,
    and the config shown is the run's, the one that trained it."""
    import yaml

    notes_path = run / NOTES_NAME
    notes = json.loads(notes_path.read_text(encoding="utf-8")) if notes_path.is_file() else {}
    if part is not None:
        notes = {**{k: v for k, v in notes.items() if k in _RUN_NOTES}, **system.resolved_notes(),
                 "part": f"`{part}` of the run (`defocus export --part {part}`); its validation below is of the "
                         "run's main network"}
    val = [r for r in read_metrics(run) if r.get("split") == "val"]
    last_val = val[-1] if val else {}
    data = notes.get("data", {})
    lines = [
        f"# {spec.name}",
        "",
        f"Task: `{spec.task}` ({system.name} system). {spec.description}",
        "",
        "## Interface",
        "",
        *[f"- input `{t.name}`: {t.layout}, {t.channels} channel(s)" for t in spec.inputs],
        *[f"- output `{t.name}`: {t.layout}, {t.channels} channel(s)" for t in spec.outputs],
        f"- sRGB in [0, 1]; H and W padded to a multiple of {spec.stride}; opset {OPSET}; "
        f"torch vs onnxruntime max abs difference {parity:.2e}",
        *([f"- working resolution: the pipelines run it with a long side of {spec.working_resolution} px"]
          if spec.working_resolution else []),
        *(["- weights stored as float16 and computed in float32 (`--float16-weights`): the difference above "
           "is the stored file's, rounding included"] if state.get("float16_weights") else []),
        "",
        "## Training",
        "",
        f"- data: {data.get('kind', 'unknown')}" + (f" ({data.get('path')})" if data.get("path") else
                                                     " scenes from the data engine, generated on the fly"),
        f"- steps: {state.get('step')}, wall time: {state.get('elapsed_s', 0.0) / 60:.1f} min",
        *([f"- weights: the element-wise mean of this run's checkpoint and {', '.join(state['averaged_with'])}"]
          if state.get("averaged_with") else []),
        *([f"- ensemble: the graph runs this run's network and {', '.join(state['ensemble_of'])} on the same "
           "input and returns the mean of each output"] if state.get("ensemble_of") else []),
        f"- hardware: {notes.get('hardware', 'unknown')}, torch {notes.get('torch', '?')}",
    ]
    for key, value in notes.items():
        if key not in _RUN_NOTES:
            lines.append(f"- {key.replace('_', ' ')}: {value}")
    lines += ["", "## Validation (held-out synthetic split, 8-bit sRGB)", ""]
    if last_val:
        lines += [f"- {k}: {v:.4f}" for k, v in last_val.items() if k not in {"split", "time_s"} and isinstance(v, float)]
        lines.append(f"- at step {last_val.get('step')}")
    else:
        lines.append("- no validation was run")
    config = load_run_config(run) if part is not None else system.config
    title = "Resolved config" + (f" (the run's; this network is its `{part}` part)" if part is not None else "")
    lines += ["", f"## {title}", "", "```yaml", yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


def export_run(run: str | Path, output: str | Path, *, name: str | None = None, manifest: str | Path | None = None,
               checkpoint: str | Path | None = None, description: str = "", default: bool = False,
               licence: str = "MIT", sizes: tuple[tuple[int, int], ...] = CHECK_SIZES,
               working_resolution: int | None = None, working_blur_radius_px: float | None = None,
               average_with: Sequence[str | Path] = (), part: str | None = None,
               deblur_model: str | None = None, ensemble_with: Sequence[str | Path] = (),
               float16_weights: bool = False, view_shifts_px: Sequence[int] = ()) -> ModelSpec:
    """Export a run; returns its ModelSpec (also written as ``<output>.spec.json``).

    ``manifest``: a manifest file to add the spec to, ``"bundled"`` for the shipped
    ``weights/manifest.json``, or ``None`` for none. ``working_resolution``: the long side (px)
    the pipelines run the network at (``None``: the pipeline's own choice);
    ``working_blur_radius_px``: the photo blur (px) the deblur/refocus pipelines' scaled mode
    brings a photo to for this network (recorded in ``extra``). ``average_with``: checkpoints
    of other runs whose network weights are averaged with the run's (a model soup). ``part``:
    export that other network of the run instead (:meth:`TrainingSystem.part`).
    ``deblur_model``: for a two-stage refocus G2, the registry name of the deblur model that
    ``refocus`` feeds it from by default (one trained with it), recorded in ``extra``.
    ``ensemble_with``: run folders or exports of the same system and width whose networks run
    beside the run's, the graph returning the mean of their outputs (:mod:`.ensemble`).
    ``float16_weights``: store the weights as float16, half the file (:mod:`.half_storage`).
    ``view_shifts_px``: the offsets by which the pipeline also shifts the views it averages
    (recorded in ``extra``; ``[0]``: the photo and its mirror alone), instead of its default.
    """
    if working_blur_radius_px is not None and not working_blur_radius_px > 0:
        raise UsageError(f"working blur must be a positive radius in pixels, got {working_blur_radius_px}")
    if working_resolution is not None and working_resolution < 1:
        raise UsageError(f"working resolution must be a positive number of pixels, got {working_resolution}")
    if ensemble_with and part is not None:
        raise UsageError("--ensemble-with exports a run's main network; it does not combine with --part")
    run, output = Path(run), Path(output)
    if output.suffix.lower() != ".onnx":
        raise UsageError(f"-o {output}: the output must be an .onnx file")
    start = time.perf_counter()
    system, state = load_trained_system(run, checkpoint, average_with)
    if part is not None:
        system = system.part(part)
        system.eval()
    contract = system.export_contract()
    if deblur_model is not None:
        if contract.extra.get("radiance_from") != "deblur":
            raise UsageError("--deblur-model pairs a two-stage refocus model (G2) with its stage 1; "
                             f"this run exports a {system.task} model")
        contract.extra["deblur_model"] = deblur_model
    if view_shifts_px:
        if any(int(v) < 0 for v in view_shifts_px):
            raise UsageError(f"--view-shift takes offsets of 0 px or more, got {list(view_shifts_px)}")
        contract.extra[VIEW_SHIFTS_KEY] = sorted({int(v) for v in view_shifts_px})
    module = None
    if ensemble_with:
        module = ensemble_module(system.config, system.inference_module(), ensemble_with)
        state = {**state, "ensemble_of": [_source_label(Path(source)) for source in ensemble_with]}
    if float16_weights:
        state = {**state, "float16_weights": True}
    metadata = {"system": system.name, "task": system.task, "stride": system.stride, "steps": state.get("step"),
                **({"weights_dtype": "float16"} if float16_weights else {}), **contract.extra}
    parity = export_onnx(system, output, sizes, metadata=metadata, module=module, float16_weights=float16_weights)
    target = manifest_path() if manifest == "bundled" else (Path(manifest) if manifest else None)
    file_name = os.path.relpath(output.resolve(), target.parent.resolve()) if target else output.name
    card_path = output.with_suffix(".md")
    spec = ModelSpec(
        name=name or f"{system.name}-{run.name}".lower().replace(" ", "-"),
        task=system.task, version=str(state.get("step")), file=file_name.replace(os.sep, "/"),
        sha256=sha256_file(output), inputs=contract.inputs, outputs=contract.outputs,
        preprocessing=contract.preprocessing, stride=system.stride, licence=licence,
        working_resolution=working_resolution,
        card=card_path.name, default=default,
        description=description or f"{system.name} ({system.config.get('width')} width), trained {state.get('step')} steps",
        extra={**contract.extra, "system": system.name,
               **({"working_blur_radius_px": float(working_blur_radius_px)} if working_blur_radius_px else {})},
    )
    card_path.write_text(model_card(system, run, spec, state, parity, part), encoding="utf-8")
    output.with_suffix(".spec.json").write_text(json.dumps(spec_to_dict(spec), indent=2) + "\n", encoding="utf-8")
    if target is not None:
        add_manifest_entry(spec, target)
    spec.extra["export_s"] = round(time.perf_counter() - start, 2)
    spec.extra["parity_max_abs_diff"] = parity
    return spec
