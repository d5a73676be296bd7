"""``defocus deblur``: the all-in-focus image of a photo (RefocusGAN's first stage)."""

from __future__ import annotations

import click

from defocus_cli.cli.jobs import JobResult, Prepared, run_image_job
from defocus_cli.cli.model_options import model_options
from defocus_cli.cli.options import JobOptions, image_job_options
from defocus_cli.cli.refocus_options import (
    check_mode,
    mode_options,
    model_info,
    open_network,
    scale_info,
)
from defocus_cli.io.image import LoadedImage


@click.command("deblur")
@image_job_options
@mode_options
@model_options("deblur")
def deblur(job: JobOptions, mode: str, scale: float | None, passes: int | None, model: str | None, device: str, threads: int | None,
           offline: bool) -> None:
    """Recover the all-in-focus image of photos with the RefocusGAN deblur network.

    The network takes the photo and its SML focus measure. It learned blur of a few pixels;
    --mode scaled runs it where the photo's blur is that size and keeps the photo's own
    in-focus detail at full resolution.

    Example: defocus deblur photo.jpg --mode scaled
    """
    check_mode(mode, scale)
    from defocus_cli.pipelines.deblur import IMAGE_INPUT, SML_INPUT
    from defocus_cli.pipelines.deblur import deblur as run_deblur

    def setup() -> Prepared:
        net = open_network("deblur", model, device, threads, offline, inputs=(IMAGE_INPUT,),
                           optional=(SML_INPUT,))

        def process(image: LoadedImage) -> JobResult:
            result = run_deblur(image.rgb, net, mode=mode, scale=scale, passes=passes)
            return JobResult(result.pixels, info=scale_info(result.mode, result.scale, result.blur_radius_px, result.passes))

        return Prepared(process, info=model_info(net))

    run_image_job("deblur", job, setup=setup)
