"""``defocus magnify``: more background blur on a photo that already has a little."""

from __future__ import annotations

import click
import numpy as np

from defocus_cli.cli.jobs import JobResult, Prepared, run_image_job
from defocus_cli.cli.model_options import LoadedModel, model_options, open_model
from defocus_cli.cli.options import FiniteFloatRange, JobOptions, image_job_options
from defocus_cli.cli.render_options import map_file_for, render_options
from defocus_cli.errors import InputError, UsageError, WeightsError
from defocus_cli.io.image import LoadedImage
from defocus_cli.io.maps import load_map
from defocus_cli.models.registry import get_registry
from defocus_cli.ops.bokeh import Bokeh

NO_MAGNIFY_MODEL = (
    "--method gan needs a magnify model and none is installed; use --method map (the default), "
    "or --model FILE.onnx (e.g. one written by `defocus export` from a `defocus train magnify` run)"
)
NO_MAP_MODEL = (
    "--map-estimator fused needs a defocus-map model and none is installed; use --map-estimator classical, "
    "or install one (see `defocus models list`)"
)
#: Options that only one method reads; giving them to the other is a usage error.
_MAP_ONLY = ("bokeh", "highlights", "no_grain")
_GAN_ONLY = ("model", "offline")  # --device and --threads also run the fused map's network


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source not in (click.core.ParameterSource.DEFAULT,
                                                 click.core.ParameterSource.DEFAULT_MAP)


def _open_magnify_model(model: str | None, device: str, threads: int | None, offline: bool) -> LoadedModel:
    if model is None and not get_registry().for_task("magnify"):
        raise WeightsError(NO_MAGNIFY_MODEL)
    return open_model("magnify", model=model, device=device, threads=threads, offline=offline)


def _open_map_model(device: str, threads: int | None) -> LoadedModel:
    if not get_registry().for_task("defocus-map"):
        raise WeightsError(NO_MAP_MODEL)
    return open_model("defocus-map", device=device, threads=threads, offline=True)


@click.command("magnify")
@image_job_options
@click.option("-m", "--magnification", type=FiniteFloatRange(1.0, 4.0), default=2.0, show_default=True,
              help="Aperture m times wider: every blur radius r becomes about m*r (1 = unchanged).")
@click.option("--method", type=click.Choice(["map", "gan"]), default="map", show_default=True,
              help="map: defocus map (classical, or --defocus-map) + lens-blur renderer. gan: the "
                   "defocus-magnification network (needs a magnify model), run where the photo's "
                   "blur matches its training blur; the defocus map keeps in-focus pixels exact.")
@click.option("--defocus-map", "defocus_map_spec", default=None, metavar="MAP",
              help="Use this defocus map (CoC radius in px, as written by defocus-map) instead of "
                   "estimating one; a folder holds <stem>.npy|png|tif per input.")
@click.option("--map-estimator", type=click.Choice(["fused", "classical"]), default=None,
              help="How the defocus map is estimated without --defocus-map. fused (the default when a "
                   "defocus-map model is installed): the smaller of the classical and the network's radius "
                   "at each pixel, so neither estimator's misreadings blur sharp detail. classical: the "
                   "edge-based estimator alone (the default otherwise).")
@render_options
@model_options("magnify")
def magnify(job: JobOptions, magnification: float, method: str, defocus_map_spec: str | None,
            map_estimator: str | None, bokeh: Bokeh, highlights: tuple[float, float] | None, no_grain: bool,
            model: str | None, device: str, threads: int | None, offline: bool) -> None:
    """Magnify the defocus blur of photos, as if taken with an m times wider aperture.

    In-focus pixels stay as they are; blurred areas get more blur, rendered in linear
    light, taken to lie behind the subject (the portrait case).

    Example: defocus magnify photo.jpg -m 2
    """
    from defocus_cli.pipelines.magnify import magnify as run_magnify

    ctx = click.get_current_context()
    for name in _MAP_ONLY if method == "gan" else _GAN_ONLY:
        if _given(ctx, name):
            other = "map" if method == "gan" else "gan"
            raise UsageError(f"--{name.replace('_', '-')} applies to --method {other} only")

    if defocus_map_spec is not None and map_estimator is not None:
        raise UsageError("--map-estimator chooses how to estimate a map; --defocus-map gives one, so use one or the other")
    estimator = map_estimator or ("fused" if get_registry().for_task("defocus-map") else "classical")

    def setup() -> Prepared:
        net = _open_magnify_model(model, device, threads, offline) if method == "gan" else None
        map_net = _open_map_model(device, threads) if estimator == "fused" and defocus_map_spec is None else None

        def process(image: LoadedImage) -> JobResult:
            coc = None
            if defocus_map_spec is not None:
                map_file = map_file_for(defocus_map_spec, image.source, "defocus map")
                coc = load_map(map_file)
                if coc.shape != image.rgb.shape[:2]:
                    raise InputError(f"defocus map is {coc.shape[1]}x{coc.shape[0]} but the image is "
                                     f"{image.width}x{image.height}; maps are in pixels of their image")
                if not np.isfinite(coc).all():
                    # A .npy or float TIFF can hold them; no radius can be read from them.
                    raise InputError(f"defocus map {map_file} has NaN or infinite values; "
                                     "it must hold finite CoC radii in px")
            info = {"m": magnification, "method": method, "defocus_map": "given" if coc is not None else estimator}
            pixels = run_magnify(image.rgb, magnification, method, defocus_map_px=coc, bokeh=bokeh,
                                 highlights=highlights, grain=not no_grain, model=net, map_model=map_net,
                                 info=info)
            return JobResult(pixels, info=info)

        common = {} if net is None else {"model": net.spec.name, "model_sha256": net.sha256,
                                         "provider": net.provider}
        if map_net is not None:
            common |= {"map_model": map_net.spec.name, "map_model_sha256": map_net.sha256,
                       "map_provider": map_net.provider}
        return Prepared(process, info=common)

    run_image_job("magnify", job, setup=setup)
