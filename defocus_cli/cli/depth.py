"""``defocus depth``: normalized inverse depth (1 = nearest) of each photo."""

from __future__ import annotations

import click

from defocus_cli.cli.depth_options import NO_DEPTH_MODEL, network_options, open_task_model
from defocus_cli.cli.jobs import MapResult, Prepared, run_map_job
from defocus_cli.cli.options import JobOptions, map_job_options
from defocus_cli.io.image import LoadedImage


@click.command("depth")
@map_job_options
@network_options(model_alias=True)
def depth(job: JobOptions, depth_model: str | None, device: str, threads: int | None, offline: bool) -> None:
    """Predict depth maps: normalized inverse depth in [0, 1], 1 = nearest, at the photo's size.

    PNG stores value * 65535 in 16 bits; npy and tiff store float32. The network runs at a
    working resolution and the map is carried to full size along the photo's edges.

    Example: defocus depth photo.jpg --format npy
    """
    from defocus_cli.pipelines.depth import predict_depth

    def setup() -> Prepared:
        model = open_task_model("depth", depth_model, device, threads, offline,
                                NO_DEPTH_MODEL + ", or --depth-model FILE.onnx")

        def process(image: LoadedImage) -> MapResult:
            return MapResult(predict_depth(image.rgb, model))

        return Prepared(process, info={"model": model.spec.name, "model_sha256": model.sha256,
                                       "provider": model.provider})

    run_map_job("depth", job, "depth", setup=setup)
