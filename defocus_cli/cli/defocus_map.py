"""``defocus defocus-map``: per-pixel blur amount (CoC radius in px of the input)."""

from __future__ import annotations

import click

from defocus_cli.cli.depth_options import installed_model, open_task_model
from defocus_cli.cli.jobs import MapResult, Prepared, run_map_job
from defocus_cli.cli.model_options import model_options
from defocus_cli.cli.options import FiniteFloatRange, JobOptions, map_job_options
from defocus_cli.errors import UsageError
from defocus_cli.io.image import LoadedImage

TASK = "defocus-map"
NO_DEFOCUS_MODEL = (
    "--method learned needs a defocus-map model and none is installed; use --method classical, "
    "or --model FILE.onnx (e.g. one written by `defocus export` from a `defocus train dmenet` run)"
)
FALLBACK_NOTE = "defocus: note: no defocus-map model is installed; using --method classical"
#: Options only the learned method reads.
_LEARNED_ONLY = ("model", "device", "threads", "offline")


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source not in (click.core.ParameterSource.DEFAULT,
                                                 click.core.ParameterSource.DEFAULT_MAP)


def _check_combinations(ctx: click.Context, job: JobOptions, method: str | None, binary_px: float | None) -> None:
    if job.colorize and binary_px is not None:
        raise UsageError("--colorize and --binary exclude each other: a 0/1 mask has no radius scale to colour")
    if method == "classical":
        for name in _LEARNED_ONLY:
            if _given(ctx, name):
                raise UsageError(f"--{name} applies to --method learned only")


@click.command("defocus-map")
@map_job_options
@click.option("--method", type=click.Choice(["learned", "classical"]), default=None,
              help="learned: DMENet (a defocus-map model), run where the photo's blur matches its "
                   "training blur. classical: Zhuo & Sim 2011 edge re-blur ratio + edge-aware "
                   "propagation (no weights). Default: learned when a model is installed, else classical.")
@click.option("--binary", "binary_px", type=FiniteFloatRange(min=0.0, min_open=True), default=None, metavar="RADIUS",
              help="Write a 0/1 blur mask instead (1 = CoC radius above RADIUS px); PNG is 8-bit black/white.")
@model_options(TASK)
def defocus_map(job: JobOptions, method: str | None, binary_px: float | None, model: str | None, device: str,
                threads: int | None, offline: bool) -> None:
    """Estimate defocus maps: the circle-of-confusion radius in pixels of each input.

    PNG stores radius * 256 in 16 bits (text chunk defocus:scale=0.00390625); npy and tiff
    store float32 pixels. Gaussian-sigma tools: sigma = radius / 2. --colorize writes a
    colour preview with a legend in pixels instead.

    Example: defocus defocus-map photo.jpg --format npy
    """
    from defocus_cli.pipelines.defocus_map import binary_blur_mask
    from defocus_cli.pipelines.defocus_map import defocus_map as estimate

    ctx = click.get_current_context()
    _check_combinations(ctx, job, method, binary_px)
    # Model options ask for the network: without a model that is exit 3, not a silent fallback.
    wants_network = any(_given(ctx, name) for name in _LEARNED_ONLY)
    fallback = method is None and not wants_network and installed_model(TASK) is None
    chosen = "classical" if fallback else method or "learned"

    def setup() -> Prepared:
        net = None
        if chosen == "learned":
            net = open_task_model(TASK, model, device, threads, offline, NO_DEFOCUS_MODEL)
        elif fallback and not job.quiet:
            click.echo(FALLBACK_NOTE, err=True)

        def process(image: LoadedImage) -> MapResult:
            info: dict[str, object] = {"method": chosen}
            radius = estimate(image.rgb, chosen, model=net, info=info)
            info["max_radius_px"] = round(float(radius.max()), 3)
            if binary_px is not None:
                info["binary_threshold_px"] = binary_px
                return MapResult(binary_blur_mask(radius, binary_px), info=info)
            return MapResult(radius, info=info)

        common = {} if net is None else {"model": net.spec.name, "model_sha256": net.sha256,
                                         "provider": net.provider}
        return Prepared(process, info=common)

    run_map_job("defocus-map", job, "mask" if binary_px is not None else "defocus", setup=setup)
