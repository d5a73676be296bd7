"""``defocus shallow-dof``: a shallow depth-of-field render of an all-in-focus photo, from its
depth (``--depth FILE``) or from depth predicted by a network."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

from defocus_cli.cli.depth_options import (
    NO_DEPTH_MODEL,
    NO_LENS_MODEL,
    network_options,
    open_task_model,
)
from defocus_cli.cli.jobs import JobResult, Prepared, run_image_job
from defocus_cli.cli.model_options import LoadedModel
from defocus_cli.cli.options import FiniteFloatRange, JobOptions, image_job_options
from defocus_cli.cli.render_options import map_file_for, render_options
from defocus_cli.errors import InputError, UsageError
from defocus_cli.io.image import LoadedImage
from defocus_cli.io.maps import load_map
from defocus_cli.ops.bokeh import Bokeh
from defocus_cli.ops.lens import parse_blur_radius

_F_NUMBER = re.compile(r"^\s*(?:[fF]\s*/?\s*)?(\d+(?:\.\d*)?|\.\d+)\s*$")
#: f-numbers ``--aperture`` accepts (f/0.7 is 8% of the long side, f/64 about 0.1%).
F_NUMBER_RANGE = (0.7, 64.0)
_POINT = re.compile(r"^\s*(\d+(?:\.\d*)?)(%?)\s*,\s*(\d+(?:\.\d*)?)(%?)\s*$")


def _point_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float, bool] | None:
    if value is None:
        return None
    match = _POINT.match(value)
    if not match or bool(match.group(2)) != bool(match.group(4)):
        raise click.BadParameter(f"expected X,Y in pixels or X%,Y%, got {value!r}")
    x, y, percent = float(match.group(1)), float(match.group(3)), bool(match.group(2))
    if percent and (x > 100 or y > 100):
        raise click.BadParameter(f"percentages must be within 0..100, got {value!r}")
    return x, y, percent


def _aperture_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    match = _F_NUMBER.match(value)
    f_number = float(match.group(1)) if match else 0.0
    if not F_NUMBER_RANGE[0] <= f_number <= F_NUMBER_RANGE[1]:
        raise click.BadParameter(f"expected an f-number like 2.8 or f/2.8 within f/{F_NUMBER_RANGE[0]:g}.."
                                 f"f/{F_NUMBER_RANGE[1]:g}, got {value!r}")
    return f_number


def _given(ctx: click.Context, name: str) -> bool:
    """Whether an option was set by the user rather than left at its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source not in (click.core.ParameterSource.DEFAULT,
                                                 click.core.ParameterSource.DEFAULT_MAP)


def _radius_callback(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        parse_blur_radius(value, (1, 1))
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


@click.command("shallow-dof")
@image_job_options
@click.option("--depth", "depth_spec", default=None, metavar="DEPTH",
              help="Depth map (.npy, 8/16-bit PNG, TIFF; normalized inverse depth, 1 = nearest), or a "
                   "folder holding <stem>.npy|png|tif per input. Resized to the photo if needed. "
                   "Default: predicted by the depth network (--depth-model).")
@click.option("--depth-kind", type=click.Choice(["inverse", "metric"]), default="inverse", show_default=True,
              help="With --depth: inverse = normalized inverse depth; metric = distances, converted to 1/z normalized.")
@click.option("--focus-depth", type=FiniteFloatRange(0.0, 1.0), default=None,
              help="Focus plane D_focus in [0, 1] (same units as the depth).")
@click.option("--focus-point", callback=_point_callback, metavar="X,Y",
              help="Focus on the subject at X,Y (pixels of the displayed image, or X%,Y%). "
                   "Default (no --focus-depth either): the subject, found by the photo's colour saliency "
                   "weighted towards the centre.")
@click.option("--focus-range", type=FiniteFloatRange(0.0, 1.0), default=0.0, show_default=True, metavar="R",
              help="Depth of field: the band of depths of width R (same units as the depth) centred "
                   "on the focus stays sharp, blur growing beyond it; 0 = a single focus plane.")
@click.option("--blur-radius", default="2%", show_default=True, callback=_radius_callback, metavar="K|K%",
              help="K: CoC radius per unit of inverse depth, in pixels or % of the long side.")
@click.option("--aperture", callback=_aperture_callback, metavar="F",
              help="Sugar for --blur-radius: f-number N (2.8 or f/2.8) gives K = (2.8/N) x 2% of the long side.")
@click.option("--lens", type=click.Choice(["classical", "learned"]), default="classical", show_default=True,
              help="classical: the layered lens-blur renderer (bokeh shapes, highlights); learned: the "
                   "DeepLens lens-blur network with its guided upsampling.")
@render_options
@network_options(lens=True)
def shallow_dof(job: JobOptions, depth_spec: str | None, depth_kind: str, focus_depth: float | None,
                focus_point: tuple[float, float, bool] | None, focus_range: float, blur_radius: str, aperture: float | None, lens: str,
                bokeh: Bokeh, highlights: tuple[float, float] | None, no_grain: bool, depth_model: str | None,
                lens_model: str | None, device: str, threads: int | None, offline: bool) -> None:
    """Render a shallow depth of field: the blur of a wide aperture focused at one depth.

    Without --depth the depth is predicted. Blur is rendered in linear light with
    occlusion-aware layers (no halos around the subject), bright highlights become bokeh
    discs, and the photo's grain is kept; --lens learned uses the DeepLens network instead.

    Example: defocus shallow-dof photo.jpg --focus-point 50%,40% --blur-radius 2%
    """
    ctx = click.get_current_context()
    if focus_depth is not None and focus_point is not None:
        raise UsageError("give at most one of --focus-depth F or --focus-point X,Y")
    if aperture is not None and _given(ctx, "blur_radius"):
        raise UsageError("--aperture is a shorthand for --blur-radius; give one of them")
    if depth_spec is not None and depth_model is not None:
        raise UsageError("--depth-model predicts the depth that --depth gives; use one of them")
    if depth_spec is None and _given(ctx, "depth_kind"):
        raise UsageError("--depth-kind describes a --depth file; there is none")
    if lens == "learned":
        for name in ("bokeh", "highlights"):
            if _given(ctx, name):
                raise UsageError(f"--{name} shapes the classical lens; --lens learned renders its own")
    elif lens_model is not None:
        raise UsageError("--lens-model is for --lens learned")
    from defocus_cli.ops.saliency import subject_weights
    from defocus_cli.pipelines.depth import predict_depth
    from defocus_cli.pipelines.learned_lens import learned_shallow_dof
    from defocus_cli.pipelines.shallow_dof import (
        aperture_blur_radius,
        auto_focus_depth,
        focus_depth_at,
        prepare_depth,
        widen_focus,
    )
    from defocus_cli.pipelines.shallow_dof import shallow_dof as render

    def make_process(depth_net: LoadedModel | None, lens_net: LoadedModel | None) -> Callable[[LoadedImage], JobResult]:
        def process(image: LoadedImage) -> JobResult:
            if depth_net is None:
                depth = prepare_depth(load_map(map_file_for(depth_spec, image.source, "depth map")),  # type: ignore[arg-type]
                                      image.rgb.shape, depth_kind)
            else:
                depth = predict_depth(image.rgb, depth_net)
            if focus_point is not None:
                x, y, percent = focus_point
                if percent:
                    x, y = x / 100.0 * (image.width - 1), y / 100.0 * (image.height - 1)
                if x >= image.width or y >= image.height:
                    raise InputError(f"focus point {x:g},{y:g} lies outside the {image.width}x{image.height} image")
                focus, how = focus_depth_at(depth, x, y), "point"
            elif focus_depth is not None:
                focus, how = float(focus_depth), "depth"
            else:
                # The photo's colour saliency, less on featureless areas, steers it: on held-out
                # scenes it finds the subject more often than the depth network's subject map
                # (docs/MODELS.md), and a graded sky does not outvote a small subject.
                focus, how = auto_focus_depth(depth, subject_weights(image.rgb)), "auto"
            k = aperture_blur_radius(aperture, image.rgb.shape) if aperture is not None \
                else parse_blur_radius(blur_radius, image.rgb.shape)
            info: dict[str, Any] = {"focus_depth": round(focus, 6), "blur_radius_px": round(k, 3)}
            if focus_range > 0:
                depth = widen_focus(depth, focus, focus_range)
                info["focus_range"] = focus_range
            if lens_net is None:
                pixels = render(image.rgb, depth, focus, k, bokeh=bokeh, highlights=highlights, grain=not no_grain)
                info["bokeh"] = bokeh.label
            else:
                pixels = learned_shallow_dof(image.rgb, depth, focus, k, lens_net, grain=not no_grain)
            info.update(focus=how, depth="predicted" if depth_net is not None else "file", lens=lens)
            if how == "auto":
                info["subject"] = "saliency"
            return JobResult(pixels, info=info)

        return process

    if depth_spec is not None and lens == "classical":
        run_image_job("shallow-dof", job, make_process(None, None))
        return

    def setup() -> Prepared:
        depth_net = None if depth_spec is not None else open_task_model(
            "depth", depth_model, device, threads, offline,
            NO_DEPTH_MODEL + ", or give --depth FILE (normalized inverse depth)")
        lens_net = None if lens == "classical" else open_task_model(
            "lens-blur", lens_model, device, threads, offline, NO_LENS_MODEL)
        # `model` names the depth network when there is one; the lens network has its own keys.
        main = depth_net or lens_net
        assert main is not None
        info: dict[str, Any] = {"model": main.spec.name, "model_sha256": main.sha256, "provider": main.provider}
        if lens_net is not None:
            info.update(lens_model=lens_net.spec.name, lens_model_sha256=lens_net.sha256)
        return Prepared(make_process(depth_net, lens_net), info=info)

    run_image_job("shallow-dof", job, setup=setup)
