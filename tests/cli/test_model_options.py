"""The shared model options and open_model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from defocus_cli.cli.model_options import model_options, open_model
from defocus_cli.errors import WeightsError
from defocus_cli.models.registry import ModelSpec, TensorSpec, add_manifest_entry
from tests.models.tiny_models import conv_model


@click.command()
@model_options("deblur")
def probe(model: str | None, device: str, threads: int | None, offline: bool) -> None:
    click.echo(f"{model}|{device}|{threads}|{offline}")


def test_options_parse_with_defaults_and_choices() -> None:
    runner = CliRunner()
    assert runner.invoke(probe, []).output.strip() == "None|auto|None|False"
    done = runner.invoke(
        probe, ["--model", "x.onnx", "--device", "cpu", "--threads", "2", "--offline"]
    )
    assert done.output.strip() == "x.onnx|cpu|2|True"
    assert runner.invoke(probe, ["--device", "tpu"]).exit_code == 2
    assert runner.invoke(probe, ["--threads", "0"]).exit_code == 2
    assert "--model NAME|PATH|hf://..." in runner.invoke(probe, ["--help"]).output


def test_open_model_runs_the_default_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(tmp_path))
    data = conv_model(tmp_path / "tiny.onnx")
    spec = ModelSpec(
        name="tiny",
        task="deblur",
        file="tiny.onnx",
        sha256=hashlib.sha256(data).hexdigest(),
        inputs=(TensorSpec("image"),),
        outputs=(TensorSpec("output"),),
    )
    add_manifest_entry(spec, tmp_path / "manifest.json")
    net = open_model("deblur", device="cpu", offline=True)
    assert net.info() == {
        "model": "tiny",
        "sha256": spec.sha256,
        "provider": "CPUExecutionProvider",
    }
    out = net.run({"image": np.zeros((1, 3, 8, 8), np.float32)})
    assert out["output"].shape == (1, 3, 8, 8)
    assert net.run_image(np.zeros((8, 12, 3), np.float32), tile_px=None).shape == (8, 12, 3)
    assert open_model("deblur", device="cpu", offline=True) is net  # one per process
    with pytest.raises(WeightsError, match="no model is registered for the 'magnify' task"):
        open_model("magnify", device="cpu", offline=True)
