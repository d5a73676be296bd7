"""``defocus defocus-map``: per-pixel blur amount (CoC radius in px of the input)."""

from __future__ import annotations

import click

from defocus_cli.cli.jobs import MapResult, run_map_job
from defocus_cli.cli.options import JobOptions, map_job_options
from defocus_cli.io.image import LoadedImage


@click.command("defocus-map")
@map_job_options
@click.option("--method", type=click.Choice(["classical"]), default="classical", show_default=True,
              help="classical: Zhuo & Sim 2011 edge re-blur ratio + edge-aware propagation (no weights).")
@click.option("--binary", "binary_px", type=click.FloatRange(min=0.0, min_open=True), default=None, metavar="RADIUS",
              help="Write a 0/1 blur mask instead (1 = CoC radius above RADIUS px); PNG is black/white.")
def defocus_map(job: JobOptions, method: str, binary_px: float | None) -> None:
    """Estimate defocus maps: the circle-of-confusion radius in pixels of each input.

    PNG stores radius * 256 in 16 bits (text chunk defocus:scale=0.00390625); npy and tiff
    store float32 pixels. Gaussian-sigma tools: sigma = radius / 2.

    Example: defocus defocus-map photo.jpg --format npy
    """
    from defocus_cli.pipelines.defocus_map import binary_blur_mask
    from defocus_cli.pipelines.defocus_map import defocus_map as estimate

    def process(image: LoadedImage) -> MapResult:
        radius = estimate(image.rgb, method)
        info = {"method": method, "max_radius_px": round(float(radius.max()), 3)}
        if binary_px is not None:
            info["binary_threshold_px"] = binary_px
            return MapResult(binary_blur_mask(radius, binary_px), info=info)
        return MapResult(radius, info=info)

    # A 0/1 mask is stored on the unit scale (PNG 0 / 65535), not in pixels.
    run_map_job("defocus-map", job, "depth" if binary_px is not None else "defocus", process)
