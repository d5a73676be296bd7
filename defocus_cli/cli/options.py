"""Shared option decorators for batch subcommands, defined once.

``@image_job_options`` (for commands whose output is a photo) and ``@map_job_options`` (for
commands whose output is a defocus or depth map) add the INPUTS argument and the batch,
output and reporting options, collect them into one :class:`JobOptions`, and pass it as the
command function's first argument::

    @click.command("shallow-dof")
    @image_job_options
    @click.option("--blur-radius", default="2%")
    def shallow_dof(job: JobOptions, blur_radius: str) -> None:
        ...
        run_image_job("shallow_dof", job, process)

Options added (image jobs): INPUTS..., -o/--output, --format auto|jpg|png|tiff|webp,
--quality, --overwrite, --skip-existing, --recursive, --shard K/N, --json, --quiet,
--strip-metadata, --max-pixels. Map jobs take --format png|npy|tiff and --colorize instead
of --format/--quality/--strip-metadata.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from defocus_cli.io.image import DEFAULT_MAX_PIXELS
from defocus_cli.io.paths import parse_shard

F = TypeVar("F", bound=Callable[..., Any])

IMAGE_FORMAT_CHOICES = ("auto", "jpg", "jpeg", "png", "tif", "tiff", "webp")
MAP_FORMAT_CHOICES = ("auto", "png", "npy", "tif", "tiff")
_FORMAT_NAMES = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "tif": "tiff", "tiff": "tiff",
                 "webp": "webp", "npy": "npy", "auto": "auto"}


@dataclass(frozen=True)
class JobOptions:
    """Everything the batch runner needs from the command line.

    Attributes:
        inputs: paths as given ('-' = stdin); empty means stdin when it is piped.
        output: -o value (file, folder, template or '-'), or None for the default naming.
        format: canonical 'auto' | 'jpeg' | 'png' | 'tiff' | 'webp' (images) or
            'auto' | 'png' | 'npy' | 'tiff' (maps).
        quality: 1..100 for JPEG/WebP.
        overwrite / skip_existing: what to do when the output exists (default: fail that input).
        recursive: descend into sub-folders of folder inputs.
        shard: (K, N) or None.
        json: one JSON line per input on stdout.
        quiet: no notes, progress or summary on stderr (errors are still printed).
        strip_metadata: drop EXIF and ICC from outputs.
        max_pixels: decompression-bomb limit in pixels (0 = no limit).
        colorize: maps only: write a colour preview with a legend instead of the raw map.
    """

    inputs: tuple[str, ...] = ()
    output: str | None = None
    format: str = "auto"
    quality: int = 95
    overwrite: bool = False
    skip_existing: bool = False
    recursive: bool = False
    shard: tuple[int, int] | None = None
    json: bool = False
    quiet: bool = False
    strip_metadata: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    colorize: bool = False


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and infinities.

    NaN compares false with both bounds, so ``FloatRange(1, 4)`` lets ``nan`` through to the
    pipelines, and a range open at one end lets ``inf`` through too.

    >>> FiniteFloatRange(1.0, 4.0).convert("2.5", None, None)
    2.5
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


def _shard_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    from defocus_cli.errors import UsageError

    try:
        return parse_shard(value)
    except UsageError as error:
        raise click.BadParameter(str(error).replace("--shard ", "")) from None


def _common_options(maps: bool) -> list[Callable[[F], F]]:
    if maps:
        format_option = click.option(
            "--format", "format_", type=click.Choice(MAP_FORMAT_CHOICES, case_sensitive=False),
            default="auto", show_default=True,
            help="Map file format: 16-bit PNG (scaled, see README), float32 .npy or float32 TIFF; "
                 "auto = -o FILE's suffix, else png.",
        )
    else:
        format_option = click.option(
            "--format", "format_", type=click.Choice(IMAGE_FORMAT_CHOICES, case_sensitive=False),
            default="auto", show_default=True,
            help="Output format; auto keeps the input's (or -o FILE's) format.",
        )
    options: list[Callable[[F], F]] = [
        click.argument("inputs", nargs=-1, type=click.Path(dir_okay=True, allow_dash=True)),
        click.option("-o", "--output", metavar="PATH",
                     help="Output file, folder, template ('{stem}_x.{ext}', also {name} {command} "
                          "{parent} {subdir}) or - for stdout. Default: <stem>_<command>.<ext> beside each input."),
        format_option,
    ]
    if not maps:
        options += [
            click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
                         help="JPEG/WebP quality (WebP 100 = lossless)."),
            click.option("--strip-metadata", is_flag=True, help="Drop EXIF and ICC profile from outputs."),
        ]
    else:
        options.append(click.option("--colorize", is_flag=True,
                                    help="Write a colour preview with a legend in the map's units instead of the raw map."))
    options += [
        click.option("--overwrite", is_flag=True, help="Replace existing outputs."),
        click.option("--skip-existing", is_flag=True, help="Skip inputs whose output exists (reported)."),
        click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders of folder inputs."),
        click.option("--shard", metavar="K/N", callback=_shard_callback,
                     help="Process every N-th sorted input starting at the K-th (1-based), for array jobs."),
        click.option("--json", "json_", is_flag=True, help="One JSON line per input on stdout."),
        click.option("-q", "--quiet", is_flag=True, help="No notes, progress or summary; errors only."),
        click.option("--max-pixels", type=click.IntRange(min=0), default=DEFAULT_MAX_PIXELS, show_default=True,
                     help="Refuse larger images (decompression-bomb guard); 0 = no limit."),
    ]
    return options


def _job_decorator(maps: bool) -> Callable[[F], F]:
    def decorator(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            job = JobOptions(
                inputs=tuple(kwargs.pop("inputs")),
                output=kwargs.pop("output"),
                format=_FORMAT_NAMES[kwargs.pop("format_").lower()],
                quality=kwargs.pop("quality", 95),
                overwrite=kwargs.pop("overwrite"),
                skip_existing=kwargs.pop("skip_existing"),
                recursive=kwargs.pop("recursive"),
                shard=kwargs.pop("shard"),
                json=kwargs.pop("json_"),
                quiet=kwargs.pop("quiet"),
                strip_metadata=kwargs.pop("strip_metadata", False),
                max_pixels=kwargs.pop("max_pixels"),
                colorize=kwargs.pop("colorize", False),
            )
            return function(job, *args, **kwargs)

        # functools.wraps shares the options list declared below us; copy it before adding.
        wrapper.__click_params__ = list(getattr(function, "__click_params__", []))  # type: ignore[attr-defined]
        decorated: Any = wrapper
        for option in reversed(_common_options(maps)):
            decorated = option(decorated)
        return decorated  # type: ignore[no-any-return]

    return decorator


#: Batch options for commands that write photos (see the module docstring).
image_job_options = _job_decorator(maps=False)
#: Batch options for commands that write defocus/depth maps (see the module docstring).
map_job_options = _job_decorator(maps=True)
