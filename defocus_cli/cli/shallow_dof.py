"""``defocus shallow-dof``: a shallow depth-of-field render of an all-in-focus photo from its depth."""

from __future__ import annotations

import re

import click

from defocus_cli.cli.jobs import JobResult, run_image_job
from defocus_cli.cli.options import JobOptions, image_job_options
from defocus_cli.cli.render_options import map_file_for, render_options
from defocus_cli.errors import InputError, UsageError
from defocus_cli.io.image import LoadedImage
from defocus_cli.io.maps import load_map
from defocus_cli.ops.bokeh import Bokeh
from defocus_cli.ops.lens import parse_blur_radius

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


def _radius_callback(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        parse_blur_radius(value, (1, 1))
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


@click.command("shallow-dof")
@image_job_options
@click.option("--depth", "depth_spec", required=True, metavar="DEPTH",
              help="Depth map (.npy, 8/16-bit PNG, TIFF; normalized inverse depth, 1 = nearest), or a "
                   "folder holding <stem>.npy|png|tif per input. Resized to the photo if needed.")
@click.option("--depth-kind", type=click.Choice(["inverse", "metric"]), default="inverse", show_default=True,
              help="inverse: normalized inverse depth; metric: distances, converted to 1/z normalized.")
@click.option("--focus-depth", type=click.FloatRange(0.0, 1.0), default=None,
              help="Focus plane D_focus in [0, 1] (same units as the depth).")
@click.option("--focus-point", callback=_point_callback, metavar="X,Y",
              help="Focus on the subject at X,Y (pixels of the displayed image, or X%,Y%).")
@click.option("--blur-radius", default="2%", show_default=True, callback=_radius_callback, metavar="K|K%",
              help="K: CoC radius per unit of inverse depth, in pixels or % of the long side.")
@render_options
def shallow_dof(job: JobOptions, depth_spec: str, depth_kind: str, focus_depth: float | None,
                focus_point: tuple[float, float, bool] | None, blur_radius: str, bokeh: Bokeh,
                highlights: tuple[float, float] | None, no_grain: bool) -> None:
    """Render a shallow depth of field: the blur of a wide aperture focused at one depth.

    Blur is rendered in linear light with occlusion-aware layers (no halos around the
    subject), bright highlights become bokeh discs, and the photo's grain is kept.

    Example: defocus shallow-dof photo.jpg --depth photo_depth.png --focus-point 50%,40% --blur-radius 2%
    """
    if (focus_depth is None) == (focus_point is None):
        raise UsageError("give exactly one of --focus-depth F or --focus-point X,Y")
    from defocus_cli.pipelines.shallow_dof import focus_depth_at, prepare_depth
    from defocus_cli.pipelines.shallow_dof import shallow_dof as render

    def process(image: LoadedImage) -> JobResult:
        depth = prepare_depth(load_map(map_file_for(depth_spec, image.source, "depth map")),
                              image.rgb.shape, depth_kind)
        if focus_point is not None:
            x, y, percent = focus_point
            if percent:
                x, y = x / 100.0 * (image.width - 1), y / 100.0 * (image.height - 1)
            if x >= image.width or y >= image.height:
                raise InputError(f"focus point {x:g},{y:g} lies outside the {image.width}x{image.height} image")
            focus = focus_depth_at(depth, x, y)
        else:
            focus = float(focus_depth)  # type: ignore[arg-type]
        k = parse_blur_radius(blur_radius, image.rgb.shape)
        pixels = render(image.rgb, depth, focus, k, bokeh=bokeh, highlights=highlights, grain=not no_grain)
        return JobResult(pixels, info={"focus_depth": round(focus, 6), "blur_radius_px": round(k, 3),
                                       "bokeh": bokeh.label})

    run_image_job("shallow-dof", job, process)
