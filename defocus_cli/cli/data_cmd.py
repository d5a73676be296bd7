"""``defocus data synth``: write synthetic training data (light-field renders and labels) to disk."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

# CLI task name -> sampler key (the data engine's SAMPLERS)
TASK_CHOICES = ("magnify", "aperture-stack", "refocus", "defocus-map", "deeplens", "depth", "syndof")


def _parse_size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    parts = [p.strip() for p in str(value).split(",")]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"expected H or H,W in pixels, got {value!r}") from None
    if len(numbers) not in (1, 2) or min(numbers) < 8:
        raise click.BadParameter(f"expected H or H,W in pixels (each at least 8), got {value!r}")
    return (numbers[0], numbers[-1])


@click.group("data")
def data() -> None:
    """Synthetic training data: light-field scenes, aperture and focal stacks, SYNDOF, DeepLens."""


def _sampler_keywords(task: str) -> set[str]:
    """The number-valued keyword options of ``task``'s sampler (``--param`` may set them)."""
    import inspect

    from defocus_cli.data.tasks import SAMPLERS

    signature = inspect.signature(SAMPLERS[task])
    return {name for name, p in signature.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and isinstance(p.default, int | float)}


def _parse_params(task: str, pairs: tuple[str, ...]) -> dict[str, float]:
    """``KEY=VALUE`` pairs as floats, each a keyword of the task's sampler."""
    allowed = _sampler_keywords(task)
    params: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise click.BadParameter(f"expected KEY=NUMBER with KEY one of: {known}; got {pair!r}", param_hint="--param")
        try:
            params[key] = float(value)
        except ValueError:
            raise click.BadParameter(f"{key} needs a number, got {value!r}", param_hint="--param") from None
    return params


@data.command("synth")
@click.option("--task", required=True, type=click.Choice(TASK_CHOICES),
              help="magnify: narrow/wide pair (continuous m); aperture-stack: m = 2,3,4; refocus: 10-slice "
                   "focal stack; defocus-map: render + CoC radius; deeplens: 3-plane composite; depth: all-in-focus "
                   "scene + depth + foreground mask; syndof: Gaussian-layered defocus.")
@click.option("-n", "count", required=True, type=click.IntRange(min=1), help="Number of samples.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (created; must be empty unless --overwrite).")
@click.option("--size", default="128", show_default=True, callback=_parse_size, help="H or H,W in pixels.")
@click.option("--seed", default=0, show_default=True, type=int, help="Sample i is made from (seed, i).")
@click.option("--from-rgbd", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="syndof only: defocus this RGB-D folder (image/ + depth/, or NAME + NAME_depth) instead.")
@click.option("--depth-kind", type=click.Choice(("disparity", "metric")), default="disparity", show_default=True,
              help="How --from-rgbd depth is stored: normalized inverse depth, or metric depth.")
@click.option("--format", "fmt", type=click.Choice(("png", "npz")), default="png", show_default=True,
              help="png: 16-bit PNG images + float32 .npy maps; npz: one archive per sample.")
@click.option("--param", "params", multiple=True, metavar="KEY=NUMBER",
              help="A number option of the task's sampler, e.g. depth: closeup_share=0.2, dof_share=0.5 "
                   "(shares of close-ups and of shallow depth-of-field photos). Repeatable.")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty output folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary on stderr.")
def synth(task: str, count: int, output: Path, size: tuple[int, int], seed: int, from_rgbd: Path | None,
          depth_kind: str, fmt: str, params: tuple[str, ...], overwrite: bool, quiet: bool) -> None:
    """Generate N samples of a task into a folder, with a manifest.json describing them.

    \b
    Example:
      defocus data synth --task magnify -n 1000 -o data/magnify --size 128 --seed 1
    """
    from defocus_cli.data.dataset import write_dataset

    options: dict[str, object] = dict(_parse_params(task, params))
    if from_rgbd is not None:
        options["depth_kind"] = depth_kind
    progress = None
    bar = None
    if not quiet and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        bar = Progress(TextColumn(f"synth {task}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       console=Console(file=sys.stderr), transient=True)
        job = bar.add_task(task, total=count)
        bar.start()

        def progress(_: int) -> None:
            bar.advance(job)

    start = time.perf_counter()
    try:
        manifest = write_dataset(task, count, output, size, seed, from_rgbd, overwrite=overwrite,
                                 progress=progress, fmt=fmt, **options)
    finally:
        if bar is not None:
            bar.stop()
    elapsed = time.perf_counter() - start
    if not quiet:
        click.echo(f"defocus: wrote {count} {task} samples ({size[0]}x{size[1]}) to {manifest.parent} "
                   f"in {elapsed:.1f} s ({count / max(elapsed, 1e-9):.1f} samples/s)", err=True)
