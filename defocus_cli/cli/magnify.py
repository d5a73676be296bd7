"""``defocus magnify``: more background blur on a photo that already has a little."""

from __future__ import annotations

import click

from defocus_cli.cli.jobs import JobResult, run_image_job
from defocus_cli.cli.options import JobOptions, image_job_options
from defocus_cli.cli.render_options import map_file_for, render_options
from defocus_cli.errors import InputError
from defocus_cli.io.image import LoadedImage
from defocus_cli.io.maps import load_map
from defocus_cli.ops.bokeh import Bokeh


@click.command("magnify")
@image_job_options
@click.option("-m", "--magnification", type=click.FloatRange(1.0, 4.0), default=2.0, show_default=True,
              help="Aperture m times wider: every blur radius r becomes about m*r (1 = unchanged).")
@click.option("--method", type=click.Choice(["map"]), default="map", show_default=True,
              help="map: defocus map (classical, or --defocus-map) + lens-blur renderer.")
@click.option("--defocus-map", "defocus_map_spec", default=None, metavar="MAP",
              help="Use this defocus map (CoC radius in px, as written by defocus-map) instead of "
                   "estimating one; a folder holds <stem>.npy|png|tif per input.")
@render_options
def magnify(job: JobOptions, magnification: float, method: str, defocus_map_spec: str | None, bokeh: Bokeh,
            highlights: tuple[float, float] | None, no_grain: bool) -> None:
    """Magnify the defocus blur of photos, as if taken with an m times wider aperture.

    In-focus pixels stay as they are; blurred areas get more blur, rendered in linear
    light, taken to lie behind the subject (the portrait case).

    Example: defocus magnify photo.jpg -m 2
    """
    from defocus_cli.pipelines.magnify import magnify as run_magnify

    def process(image: LoadedImage) -> JobResult:
        coc = None
        if defocus_map_spec is not None:
            coc = load_map(map_file_for(defocus_map_spec, image.source, "defocus map"))
            if coc.shape != image.rgb.shape[:2]:
                raise InputError(f"defocus map is {coc.shape[1]}x{coc.shape[0]} but the image is "
                                 f"{image.width}x{image.height}; maps are in pixels of their image")
        pixels = run_magnify(image.rgb, magnification, method, defocus_map_px=coc, bokeh=bokeh,
                             highlights=highlights, grain=not no_grain)
        return JobResult(pixels, info={"m": magnification, "method": method,
                                       "defocus_map": "given" if coc is not None else "classical"})

    run_image_job("magnify", job, process)
