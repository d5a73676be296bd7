"""``defocus deblur`` end to end on a stand-in G1 installed as bundled weights."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defocus_cli.io.image import load_image
from defocus_cli.ops.focus import sml
from tests.cli.jobs_testcmd import run_cli, run_subprocess
from tests.conftest import write_photo
from tests.models.tiny_models import identity_model
from tests.models.tiny_refocus import box3, install_refocus


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = install_refocus(tmp_path / "weights")
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(folder))
    return folder


def test_writes_the_networks_result_and_reports_model_and_provider(tmp_path: Path, weights: Path) -> None:
    pixels = write_photo(tmp_path / "p.png", size=(40, 32))[..., :3]
    code, out, err = run_cli(["deblur", str(tmp_path / "p.png"), "--json", "--mode", "tiles"])
    assert code == 0, err
    line = json.loads(out)
    assert line["model"] == "deblur-test" and len(line["model_sha256"]) == 64
    assert line["provider"] == "CPUExecutionProvider"
    assert line["mode"] == "tiles" and line["working_scale"] == 1.0
    result = load_image(tmp_path / "p_deblur.png").rgb
    expected = np.clip(pixels + sml(pixels)[..., None] * (pixels - box3(pixels)), 0, 1)
    np.testing.assert_allclose(result[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1 / 255 + 1e-6)


def test_scaled_mode_reports_its_working_scale(tmp_path: Path, weights: Path) -> None:
    write_photo(tmp_path / "p.jpg", size=(64, 48))
    code, out, err = run_cli(["deblur", str(tmp_path / "p.jpg"), "--mode", "scaled", "--scale", "0.5", "--json"])
    assert code == 0, err
    line = json.loads(out)
    assert line["mode"] == "scaled" and line["working_scale"] == 0.5
    assert Image.open(tmp_path / "p_deblur.jpg").size == (64, 48)
    code, out, err = run_cli(["deblur", str(tmp_path / "p.jpg"), "--mode", "scaled", "--json", "--overwrite"])
    assert code == 0, err
    assert "blur_radius_px" in json.loads(out)


def test_pipes_stdin_to_stdout(tmp_path: Path, weights: Path) -> None:
    write_photo(tmp_path / "p.png", size=(24, 20))
    code, out, err = run_cli(["deblur", "-"], stdin=(tmp_path / "p.png").read_bytes())
    assert code == 0, err
    assert Image.open(io.BytesIO(out)).size == (24, 20)


def test_no_model_installed_is_exit_3_with_how_to_get_one(tmp_path: Path, no_weights: Path) -> None:
    write_photo(tmp_path / "p.png")
    code, out, err = run_cli(["deblur", str(tmp_path / "p.png")])
    assert code == 3 and out == b""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "defocus train deblur" in err and "defocus export" in err and "--model PATH" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty-weights", "p.png"]


def test_a_graph_with_other_inputs_is_exit_3(tmp_path: Path, no_weights: Path) -> None:
    write_photo(tmp_path / "p.png")
    identity_model(tmp_path / "other.onnx", input_name="pixels")
    code, _, err = run_cli(["deblur", str(tmp_path / "p.png"), "--model", str(tmp_path / "other.onnx")])
    assert code == 3 and "is not a RefocusGAN deblur graph" in err and "pixels" in err
    assert not (tmp_path / "p_deblur.png").exists()


def test_scale_needs_scaled_mode(tmp_path: Path, weights: Path) -> None:
    write_photo(tmp_path / "p.png")
    for args in (["--mode", "tiles", "--scale", "0.5"], ["--mode", "scaled", "--scale", "0"], ["--mode", "sharp"]):
        code, out, err = run_cli(["deblur", str(tmp_path / "p.png"), *args])
        assert code == 2 and out == b"" and "Traceback" not in err, args
    assert not (tmp_path / "p_deblur.png").exists()


def test_runs_without_torch(tmp_path: Path, weights: Path) -> None:
    write_photo(tmp_path / "a.png")
    check = "assert 'torch' not in sys.modules, 'torch was imported'\nprint('torch-free', file=sys.stderr)"
    done = run_subprocess(["deblur", "a.png", "--json"], cwd=tmp_path, extra_code=check)
    assert done.returncode == 0, done.stderr.decode()
    assert b"torch-free" in done.stderr


def test_the_default_mode_is_scaled(tmp_path: Path, weights: Path) -> None:
    write_photo(tmp_path / "p.png", size=(40, 32))
    code, out, err = run_cli(["deblur", str(tmp_path / "p.png"), "--json"])
    assert code == 0, err
    assert json.loads(out)["mode"] == "scaled"


def test_passes_default_by_mode_and_are_reported(tmp_path: Path, weights: Path) -> None:
    write_photo(tmp_path / "p.png", size=(40, 32))

    def passes(*options: str) -> int:
        code, out, err = run_cli(["deblur", str(tmp_path / "p.png"), "--json", "--overwrite", *options])
        assert code == 0, err
        return json.loads(out)["passes"]

    # Four in scaled mode (a small copy); one in tiles mode, where every pixel is a network run.
    assert passes() == passes("--passes", "auto") == 4
    assert passes("--mode", "tiles") == 1
    assert passes("--passes", "1") == 1
    assert passes("--mode", "tiles", "--passes", "4") == 4


def test_other_pass_counts_are_a_usage_error(tmp_path: Path, weights: Path) -> None:
    write_photo(tmp_path / "p.png", size=(40, 32))
    code, out, err = run_cli(["deblur", str(tmp_path / "p.png"), "--passes", "3"])
    assert code == 2 and "--passes" in err and "Traceback" not in err
    assert not (tmp_path / "p_deblur.png").exists()
