"""Options shared by the rendering subcommands (shallow-dof, magnify, refocus):
``--bokeh``, ``--highlights``, ``--no-grain``, and per-input map files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from defocus_cli.errors import InputError
from defocus_cli.ops.bokeh import Bokeh, parse_bokeh
from defocus_cli.ops.render import DEFAULT_HIGHLIGHTS

F = TypeVar("F", bound=Callable[..., Any])

MAP_SUFFIXES = (".npy", ".png", ".tif", ".tiff")


def _bokeh_callback(ctx: click.Context, param: click.Parameter, value: str) -> Bokeh:
    try:
        return parse_bokeh(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def parse_highlights(text: str) -> tuple[float, float] | None:
    """``THRESH,GAIN`` (linear luminance threshold in [0, 1), gain >= 0) or ``off``."""
    value = str(text).strip().lower()
    if value in ("off", "none", "0"):
        return None
    try:
        threshold_text, gain_text = value.split(",")
        threshold, gain = float(threshold_text), float(gain_text)
    except ValueError:
        raise ValueError(f"highlights must be THRESH,GAIN (e.g. 0.8,3) or off, got {text!r}") from None
    if not 0.0 <= threshold < 1.0 or gain < 0.0:
        raise ValueError(f"highlights need 0 <= THRESH < 1 and GAIN >= 0, got {text!r}")
    return threshold, gain


def _highlights_callback(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, float] | None:
    try:
        return parse_highlights(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def render_options(function: F) -> F:
    """Add ``--bokeh``, ``--highlights`` and ``--no-grain`` (as ``bokeh``, ``highlights``,
    ``no_grain`` keyword arguments)."""
    default_highlights = f"{DEFAULT_HIGHLIGHTS[0]:g},{DEFAULT_HIGHLIGHTS[1]:g}"
    options = [
        click.option("--bokeh", default="disc", show_default=True, callback=_bokeh_callback,
                     help="Aperture shape: disc, or poly:N[,DEG] for an N-blade polygon rotated DEG degrees."),
        click.option("--highlights", default=default_highlights, show_default=True, callback=_highlights_callback,
                     help="Bright-bokeh boost THRESH,GAIN in linear luminance (pixels above THRESH are "
                          "boosted up to 1+GAIN before blurring), or off."),
        click.option("--no-grain", is_flag=True,
                     help="Do not add the photo's grain back into blurred areas."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def map_file_for(spec: str, source: str, what: str) -> str:
    """The map file for one input: ``spec`` itself if it is a file, or, if it is a folder,
    the file in it named like the input (``<stem>.npy|png|tif|tiff``)."""
    path = Path(spec)
    if path.is_file():
        return str(path)
    if path.is_dir():
        stem = Path(source).stem
        for suffix in MAP_SUFFIXES:
            candidate = path / f"{stem}{suffix}"
            if candidate.is_file():
                return str(candidate)
        raise InputError(f"no {what} for {source} in {spec} (expected {stem}.npy, .png or .tif)")
    raise InputError(f"{what} {spec}: no such file or folder")
