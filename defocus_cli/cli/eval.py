"""``defocus eval TASK --model M``: the papers' metric tables for a model."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from defocus_cli.cli.train import require_torch
from defocus_cli.ops.views import PASSES
from defocus_cli.training.names import EVAL_TASKS


def _size(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        parts = [int(v) for v in value.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 16:
        raise click.BadParameter("expected HxW (or one side), at least 16 px, e.g. 128x96")
    return parts[0], parts[1]


def _terminal_status(task: str) -> Callable[[str], None] | None:
    """A one-line status on stderr, rewritten in place, when stderr is a terminal (logs and
    pipes get only the tables)."""
    if not sys.stderr.isatty():
        return None
    return lambda message: click.echo(f"\r\033[Kdefocus eval {task}: {message}...", err=True, nl=False)


@click.command("eval")
@click.argument("task", type=click.Choice(EVAL_TASKS))
@click.option("--model", "model", required=True, type=click.Path(exists=True, path_type=Path),
              help="An exported .onnx model (run through onnxruntime) or a training run folder.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A folder of .npz samples (default: the held-out synthetic split).")
@click.option("--samples", default=16, show_default=True, type=click.IntRange(min=1),
              help="Number of samples per split.")
@click.option("--size", default="128", show_default=True, callback=_size, help="Synthetic sample size HxW.")
@click.option("--seed", default=0, show_default=True, type=int, help="Data seed.")
@click.option("--deblur-model", type=click.Path(exists=True, path_type=Path),
              help="refocus: the deblur model that supplies the radiance (adds the full-pipeline row).")
@click.option("--depth-model", type=click.Path(exists=True, path_type=Path),
              help="lens-blur: a depth model whose prediction feeds the lens (adds Table 3's Pred row).")
@click.option("--passes", type=click.Choice([str(p) for p in PASSES]), default="1", show_default=True,
              callback=lambda ctx, param, value: int(value),
              help="deblur, refocus (with --deblur-model): also score each network averaged over this many "
                   "mirrored copies, as the commands run it (their default is 4).")
@click.option("--all-steps", is_flag=True,
              help="refocus: score every delta from -9 to 9 as the command renders it, not only the "
                   "model's trained steps.")
@click.option("--json", "as_json", is_flag=True, help="Print the tables as JSON.")
def eval_cmd(task: str, model: Path, data_dir: Path | None, samples: int, size: tuple[int, int], seed: int,
             deblur_model: Path | None, depth_model: Path | None, passes: int, all_steps: bool,
             as_json: bool) -> None:
    """Print TASK's tables in the layout of its paper, next to the identity (and classical)
    baselines."""
    require_torch()
    from defocus_cli.training.evaluate import evaluate

    if deblur_model and task != "refocus":
        raise click.UsageError("--deblur-model is for eval refocus")
    if depth_model and task != "lens-blur":
        raise click.UsageError("--depth-model is for eval lens-blur")
    extra = {"deblur": deblur_model, "depth": depth_model}
    status = _terminal_status(task)
    try:
        tables = evaluate(task, model, data_dir=data_dir, size=size, count=samples, seed=seed, extra_models=extra,
                          passes=passes, all_steps=all_steps, progress=status)
    finally:
        if status is not None:
            click.echo("\r\033[K", err=True, nl=False)
    if as_json:
        click.echo(json.dumps([t.as_dict() for t in tables], indent=2))
    else:
        click.echo("\n\n".join(t.render() for t in tables))
