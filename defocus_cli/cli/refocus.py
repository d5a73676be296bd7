"""``defocus refocus``: move a photo's focus nearer or farther (RefocusGAN: deblur, then re-blur)."""

from __future__ import annotations

from typing import Any

import click

from defocus_cli.cli.extra_output import ExtraOutput
from defocus_cli.cli.jobs import JobResult, Prepared, run_image_job
from defocus_cli.cli.model_options import model_options
from defocus_cli.cli.options import JobOptions, image_job_options
from defocus_cli.cli.refocus_options import (
    check_mode,
    mode_options,
    model_info,
    open_network,
    paired_deblur_model,
    scale_info,
)
from defocus_cli.errors import UsageError
from defocus_cli.io.image import LoadedImage
from defocus_cli.pipelines.refocus import MAX_DELTA


def _delta_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        delta = int(value.strip())
    except ValueError:
        delta = None
    if delta is None or not -MAX_DELTA <= delta <= MAX_DELTA:
        raise UsageError(f"--delta must be an integer from -{MAX_DELTA} to {MAX_DELTA} "
                         f"(focal-stack slices, positive = farther), got {value!r}")
    return delta


@click.command("refocus")
@image_job_options
@click.option("-d", "--delta", required=True, callback=_delta_callback, metavar="D",
              help="Move the focus by D of 10 focal-stack slices spanning the scene's depth: an integer "
                   "from -9 (nearer) to 9 (farther); 0 returns the photo.")
@click.option("--keep-radiance", "keep_radiance", metavar="PATH",
              help="Also save stage 1, the deblurred image: a file, a folder (<stem>_radiance.<ext>) or "
                   "a template like -o's; follows --overwrite/--skip-existing.")
@mode_options
@model_options("refocus")
@click.option("--deblur-model", metavar="NAME|PATH|hf://...", default=None,
              help="Checkpoint for the stage-1 deblur network. Default: the one the refocus model was "
                   "trained with, when it names one, else the default deblur model.")
def refocus(job: JobOptions, delta: int, keep_radiance: str | None, mode: str, scale: float | None, passes: int | None,
            model: str | None, device: str, threads: int | None, offline: bool, deblur_model: str | None) -> None:
    """Refocus photos: the focus moves --delta slices nearer (-) or farther (+).

    The deblur network recovers the in-focus image, then the refocus network blurs it
    again for the new focus, looking at the photo, the in-focus image and the shift.

    Example: defocus refocus photo.jpg --delta 5 --keep-radiance photo_sharp.jpg
    """
    check_mode(mode, scale)
    extra = ExtraOutput.parse(keep_radiance, job, label="radiance", option="--keep-radiance") \
        if keep_radiance is not None else None
    from defocus_cli.pipelines.deblur import IMAGE_INPUT, SML_INPUT
    from defocus_cli.pipelines.refocus import (
        DELTA_INPUT,
        RADIANCE_INPUT,
        delta_blend,
        reaches,
        trained_deltas,
    )
    from defocus_cli.pipelines.refocus import refocus as run_refocus

    def setup() -> Prepared:
        g2 = open_network("refocus", model, device, threads, offline, inputs=(IMAGE_INPUT, DELTA_INPUT),
                          optional=(RADIANCE_INPUT,))
        info: dict[str, Any] = model_info(g2)
        g1 = None
        if RADIANCE_INPUT in g2.session.input_names:
            stage1 = deblur_model
            if stage1 is None:
                stage1, warning = paired_deblur_model(g2)
                if warning and not job.quiet:
                    click.echo(f"defocus: warning: {warning}", err=True)
            g1 = open_network("deblur", stage1, device, threads, offline, inputs=(IMAGE_INPUT,),
                              optional=(SML_INPUT,), option="--deblur-model")
            info.update(model_info(g1, "deblur_"))
        elif extra is not None or deblur_model is not None:
            raise UsageError(f"{g2.spec.name} is a single-stage refocus model (no radiance input): "
                             "it has no deblur stage for --keep-radiance or --deblur-model")
        trained = trained_deltas(g2)
        blend = delta_blend(delta, trained)
        if trained and not reaches(delta, blend) and not job.quiet:
            click.echo(f"defocus: warning: {g2.spec.name} was trained on delta {', '.join(map(str, trained))} only; "
                       f"{delta} lies beyond them and is rendered as {blend[0][0]}", err=True)

        def process(image: LoadedImage) -> JobResult:
            target = extra.destination(image) if extra is not None else None
            result = run_refocus(image.rgb, delta, g2, g1, mode=mode, scale=scale, passes=passes,
                                 keep_radiance=extra is not None and target is not None)
            details = {"delta": delta, "stages": result.stages,
                       **({"delta_blend": {str(step): weight for step, weight in result.blend}}
                          if result.blend != ((delta, 1.0),) else {}),
                       **scale_info(result.mode, result.scale, result.blur_radius_px, result.passes)}
            if extra is not None:
                notes = extra.write(target, image, result.radiance) if result.radiance is not None else []
                details["radiance"] = target if target is not None else "kept existing"
                if notes:
                    details["radiance_notes"] = notes
            return JobResult(result.pixels, info=details)

        return Prepared(process, info=info)

    run_image_job("refocus", job, setup=setup, written=extra.written if extra is not None else None)
