"""``defocus export RUN -o model.onnx``: a trained run to ONNX + ModelSpec + model card."""

from __future__ import annotations

from pathlib import Path

import click

from defocus_cli.cli.options import FiniteFloatRange
from defocus_cli.cli.train import require_torch


@click.command("export")
@click.argument("run", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The .onnx file to write (its card and spec go next to it).")
@click.option("--name", help="Model name in the registry (default: SYSTEM-RUNFOLDER).")
@click.option("--manifest", help="Add the ModelSpec to this manifest; 'bundled' = the shipped weights/manifest.json.")
@click.option("--checkpoint", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A checkpoint of the run (default: the last one).")
@click.option("--average-with", "average_with", multiple=True, metavar="CHECKPOINT",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Average the network weights with this checkpoint of another run of the same system and "
                   "width (repeatable): runs fine-tuned from the same weights combine what each learned.")
@click.option("--ensemble-with", "ensemble_with", multiple=True, metavar="MODEL",
              type=click.Path(exists=True, path_type=Path),
              help="Run this network too, an exported .onnx or a run folder of the same system and width "
                   "(repeatable): the graph returns the mean of their outputs, an ensemble of runs that "
                   "need not share a start.")
@click.option("--float16-weights", "float16_weights", is_flag=True,
              help="Store the weights as float16 (computed in float32): half the file, outputs within about "
                   "1e-3 of their range.")
@click.option("--view-shift", "view_shifts", multiple=True, type=click.IntRange(min=0), metavar="PX",
              help="depth, defocus-map: an offset (px of the working image) by which the pipeline also shifts the "
                   "photo and its mirror before averaging the maps (repeatable; 0 alone: the mirror only). "
                   "Default: the pipeline's own.")
@click.option("--part", metavar="NAME",
              help="Export another network the run trained: 'refocus' for the G2 of a deblur run trained "
                   "jointly with it (model.refocus_trainable).")
@click.option("--deblur-model", metavar="NAME",
              help="Two-stage refocus: the deblur model (registry name) that `refocus` runs as stage 1 "
                   "for this G2 unless told otherwise, e.g. the G1 it was trained jointly with.")
@click.option("--description", default="", help="One line for `defocus models list`.")
@click.option("--default", "make_default", is_flag=True, help="Mark it the default model of its task.")
@click.option("--working-resolution", type=click.IntRange(min=16), metavar="PX",
              help="Long side the pipelines run the network at (recorded in its spec; default: the pipeline's).")
@click.option("--working-blur", type=FiniteFloatRange(min=0.5), metavar="PX",
              help="deblur/refocus: the photo blur (px, 95th percentile of the classical map) that --mode scaled "
                   "brings a photo to for this network (default 5).")
def export(run: Path, output: Path, name: str | None, manifest: str | None, checkpoint: Path | None,
           average_with: tuple[Path, ...], ensemble_with: tuple[Path, ...], float16_weights: bool,
           view_shifts: tuple[int, ...], part: str | None,
           deblur_model: str | None, description: str,
           make_default: bool, working_resolution: int | None, working_blur: float | None) -> None:
    """Export RUN's network to a single-file ONNX model with dynamic height and width, after
    checking torch against onnxruntime at two sizes."""
    require_torch()
    from defocus_cli.training.export import export_run

    spec = export_run(run, output, name=name, manifest=manifest, checkpoint=checkpoint, description=description,
                      default=make_default, working_resolution=working_resolution,
                      working_blur_radius_px=working_blur, average_with=average_with, part=part,
                      deblur_model=deblur_model, ensemble_with=ensemble_with, float16_weights=float16_weights,
                      view_shifts_px=view_shifts)
    where = f", added to {manifest}" if manifest else ""
    click.echo(f"{spec.name}: {output} (sha256 {spec.sha256[:12]}, max |torch - onnxruntime| "
               f"{spec.extra['parity_max_abs_diff']:.1e}){where}", err=True)
