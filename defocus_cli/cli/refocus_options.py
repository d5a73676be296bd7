"""What ``deblur`` and ``refocus`` share: ``--mode``/``--scale``/``--passes``, opening the RefocusGAN
networks (exit 3 with how to get one when none is installed), and the JSON fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from defocus_cli.cli.model_options import LoadedModel, open_model
from defocus_cli.cli.options import FiniteFloatRange
from defocus_cli.errors import UsageError, WeightsError
from defocus_cli.models.registry import get_registry
from defocus_cli.ops.views import PASSES
from defocus_cli.pipelines.deblur import DEFAULT_MODE, DEFAULT_PASSES, MODES

F = TypeVar("F", bound=Callable[..., Any])


def mode_options(command: F) -> F:
    """Add ``--mode tiles|scaled``, ``--scale S`` and ``--passes 1|2|4``; the command receives
    ``mode``, ``scale`` and ``passes``."""
    command = click.option(
        "--passes", type=click.Choice(["auto", *(str(p) for p in PASSES)]), default="auto", show_default=True,
        callback=lambda ctx, param, value: None if value == "auto" else int(value),
        help="Average each network over this many mirrored copies of the photo: 4 is cleaner "
             "(fewer artefacts, higher scores), 1 is fastest. auto: "
             + ", ".join(f"{n} in {mode} mode" for mode, n in DEFAULT_PASSES.items()) + ".")(command)
    command = click.option(
        "--scale", type=FiniteFloatRange(0.0, 1.0, min_open=True), default=None, metavar="S",
        help="With --mode scaled: run at this fraction of the photo's size instead of the estimated one.")(command)
    return click.option(
        "--mode", type=click.Choice(MODES), default=DEFAULT_MODE, show_default=True,
        help="tiles: the network at full resolution in seamless tiles (removes blur up to a few px); "
             "scaled: at the scale where the photo's blur matches training, brought back up keeping "
             "the photo's in-focus detail.")(command)


def check_mode(mode: str, scale: float | None) -> None:
    if scale is not None and mode != "scaled":
        raise UsageError("--scale sets the working scale of --mode scaled; add --mode scaled or drop --scale")


def missing_model_hint(task: str, option: str = "--model") -> str:
    return (f"no {task} model is installed; train one with `defocus train {task}`, then "
            f"`defocus export RUN -o weights/{task}.onnx --manifest bundled`, or pass {option} PATH")


def open_network(task: str, name: str | None, device: str, threads: int | None, offline: bool, *,
                 inputs: tuple[str, ...], optional: tuple[str, ...] = (), option: str = "--model") -> LoadedModel:
    """Open the ``task`` network (``name`` or the installed default) and check that its graph
    takes ``inputs`` plus any of ``optional`` and nothing else; raises WeightsError (exit 3)
    otherwise, before any photo is read."""
    if name is None and not get_registry().for_task(task):
        raise WeightsError(missing_model_hint(task, option))
    net = open_model(task, model=name, device=device, threads=threads, offline=offline)
    names = net.session.input_names
    if not set(inputs) <= set(names) <= set(inputs) | set(optional):
        expected = ", ".join(inputs) + (f" [{', '.join(optional)}]" if optional else "")
        raise WeightsError(f"{net.path.name} is not a RefocusGAN {task} graph: it takes inputs "
                           f"{', '.join(names)}, expected {expected}")
    return net


def paired_deblur_model(g2: LoadedModel) -> tuple[str | None, str | None]:
    """The deblur model a two-stage G2 names as its stage 1 (``extra.deblur_model``, written by
    ``defocus export --deblur-model``: the G1 it was trained with), and a warning when that
    model is not installed; ``(None, ...)`` means the installed default deblur model."""
    name = g2.spec.extra.get("deblur_model")
    if not name:
        return None, None
    if name in get_registry():
        return str(name), None
    return None, (f"{g2.spec.name} was trained with the deblur model {name}, which is not installed; "
                  "using the default deblur model")


def model_info(net: LoadedModel, prefix: str = "") -> dict[str, str]:
    """JSON fields naming a network: model, model_sha256, provider (the one really used)."""
    return {f"{prefix}model": net.spec.name, f"{prefix}model_sha256": net.sha256, f"{prefix}provider": net.provider}


def scale_info(mode: str, scale: float, blur_radius_px: float | None, passes: int) -> dict[str, Any]:
    info: dict[str, Any] = {"mode": mode, "working_scale": round(scale, 4), "passes": passes}
    if blur_radius_px is not None:
        info["blur_radius_px"] = round(blur_radius_px, 2)
    return info
