"""``defocus depth`` end to end: models chosen, map formats, exit codes and stderr.

DeepLens stand-ins are installed as bundled weights (``DEFOCUS_WEIGHTS_DIR`` + manifest);
Depth Anything V2 Small is served by the local hub stand-in, never the network.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defocus_cli.io.maps import load_map
from defocus_cli.models.registry import DEPTH_ANYTHING_V2_SMALL
from tests.cli.jobs_testcmd import run_cli, run_subprocess
from tests.conftest import write_photo
from tests.hub_server import HubStandIn, hub_server_fixture  # noqa: F401 - provides hub_server
from tests.models.tiny_deeplens import (
    depth_anything_standin,
    expected_deeplens_depth,
    install_deeplens,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = install_deeplens(tmp_path / "weights")
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(folder))
    return folder


def _photo(tmp_path: Path, name: str = "p.png", size: tuple[int, int] = (53, 37)) -> tuple[Path, np.ndarray]:
    path = tmp_path / name
    return path, write_photo(path, size=size)


def test_default_model_writes_a_16_bit_png_at_input_size(tmp_path: Path, weights: Path) -> None:
    photo, pixels = _photo(tmp_path)
    code, out, err = run_cli(["depth", str(photo), "--json"])
    assert code == 0, err
    line = json.loads(out)
    assert line["model"] == "deeplens-depth-test" and len(line["model_sha256"]) == 64
    assert line["provider"] == "CPUExecutionProvider"
    written = tmp_path / "p_depth.png"
    with Image.open(written) as image:
        assert image.size == (53, 37) and image.mode.startswith("I")
    depth = load_map(written)
    np.testing.assert_allclose(depth, expected_deeplens_depth(pixels), atol=2 / 65535)


@pytest.mark.parametrize("fmt,suffix", [("npy", "npy"), ("tiff", "tif")])
def test_float_formats(tmp_path: Path, weights: Path, fmt: str, suffix: str) -> None:
    photo, _ = _photo(tmp_path)
    code, _, err = run_cli(["depth", str(photo), "--format", fmt, "--model", "deeplens-depth-test"])
    assert code == 0, err
    depth = load_map(tmp_path / f"p_depth.{suffix}")
    assert depth.dtype == np.float32 and depth.shape == (37, 53)
    assert depth.min() == 0.0 and depth.max() == pytest.approx(1.0)


def test_colorize_and_stdin_to_stdout(tmp_path: Path, weights: Path) -> None:
    photo, _ = _photo(tmp_path)
    code, _, err = run_cli(["depth", str(photo), "--colorize", "-o", str(tmp_path / "preview.png")])
    assert code == 0, err
    with Image.open(tmp_path / "preview.png") as preview:
        assert preview.mode == "RGB" and preview.size[0] == 53 and preview.size[1] > 37  # legend below
    code, out, err = run_cli(["depth", "-", "--format", "npy"], stdin=photo.read_bytes())
    assert code == 0, err
    assert np.load(io.BytesIO(out)).shape == (37, 53)


def test_no_installed_model_exits_3_with_a_hint(tmp_path: Path, no_weights: Path) -> None:
    photo, _ = _photo(tmp_path)
    code, out, err = run_cli(["depth", str(photo)])
    assert code == 3 and out == b""
    assert "--depth-model depth-anything-v2-small" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p_depth.png").exists()


def test_bad_inputs(tmp_path: Path, weights: Path) -> None:
    photo, _ = _photo(tmp_path)
    (tmp_path / "text.jpg").write_text("not a photo\n")
    code, _, err = run_cli(["depth", str(photo), str(tmp_path / "text.jpg")])
    assert code == 1 and "text.jpg" in err and "Traceback" not in err
    assert (tmp_path / "p_depth.png").exists() and not (tmp_path / "text_depth.png").exists()
    code, _, err = run_cli(["depth", str(photo), "--depth-model", "no-such-model"])
    assert code == 2 and "unknown model" in err
    code, _, err = run_cli(["depth", str(photo), "--depth-model", str(tmp_path / "missing.onnx")])
    assert code == 3 and "not found" in err
    code, _, err = run_cli(["depth", str(photo), "--colorize", "--format", "npy", "--overwrite"])
    assert code == 2


@pytest.mark.parametrize("args", [["depth", "a.png", "--json"],
                                  ["shallow-dof", "a.png", "--lens", "learned", "--json"]], ids=["depth", "shallow-dof"])
def test_networks_run_without_torch(tmp_path: Path, weights: Path, args: list[str]) -> None:
    write_photo(tmp_path / "a.png")
    check = "assert 'torch' not in sys.modules, 'torch was imported'\nprint('torch-free', file=sys.stderr)"
    done = run_subprocess(args, cwd=tmp_path, extra_code=check)
    assert done.returncode == 0, done.stderr.decode()
    assert b"torch-free" in done.stderr


def _defocus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "defocus_cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_depth_anything_from_the_hub_stand_in(hub_server: HubStandIn, tmp_path: Path) -> None:
    spec = DEPTH_ANYTHING_V2_SMALL
    assert spec.inputs[0].name == "pixel_values" and spec.outputs[0].name == "predicted_depth"
    hub_server.add_file(spec.hub_repo, spec.hub_filename, depth_anything_standin(), commit=spec.revision)
    empty = tmp_path / "weights"
    empty.mkdir()
    env = hub_server.env(tmp_path, DEFOCUS_WEIGHTS_DIR=str(empty), OMP_NUM_THREADS="1")
    # Sides that are not multiples of 14, one photo below and one above the 518 px working size.
    for name, size in (("small.png", (61, 45)), ("large.png", (700, 501))):
        path = tmp_path / name
        pixels = write_photo(path, size=size)
        red = np.zeros((size[1], size[0], 3), np.float32)
        red[size[1] // 4 : size[1] // 2, size[0] // 4 : size[0] // 2] = 0.95  # red = near, for the stand-in
        Image.fromarray((np.where(red > 0, red, pixels) * 255 + 0.5).astype(np.uint8)).save(path)
    done = _defocus(env, "depth", str(tmp_path / "small.png"), str(tmp_path / "large.png"),
                    "--depth-model", "depth-anything-v2-small", "--format", "npy", "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["model"] for line in lines] == ["depth-anything-v2-small"] * 2
    assert len(hub_server.gets(spec.hub_filename)) == 1  # downloaded once, at the pinned commit
    assert spec.revision in hub_server.gets(spec.hub_filename)[0]
    for name, (w, h) in (("small", (61, 45)), ("large", (700, 501))):
        depth = np.load(tmp_path / f"{name}_depth.npy")
        assert depth.shape == (h, w) and depth.min() >= 0 and depth.max() <= 1
        # Larger raw output (more red) = nearer = 1.
        assert depth[h // 4 + 3 : h // 2 - 3, w // 4 + 3 : w // 2 - 3].min() > 0.95
        assert np.median(depth[3 * h // 4 :]) < 0.7
    # Offline, the cached copy is used without asking the hub again.
    again = _defocus(env | {"HF_HUB_OFFLINE": "1"}, "depth", str(tmp_path / "small.png"), "--depth-model",
                     "depth-anything-v2-small", "--format", "npy", "--overwrite")
    assert again.returncode == 0, again.stderr
    assert len(hub_server.gets(spec.hub_filename)) == 1


def test_a_fresh_export_runs_with_the_spec_beside_it(tmp_path: Path, no_weights: Path) -> None:
    from defocus_cli.models.registry import spec_to_dict
    from tests.models.tiny_deeplens import deeplens_depth_standin, depth_spec

    photo, _ = _photo(tmp_path)
    model = tmp_path / "export" / "depth.onnx"
    model.parent.mkdir()
    data = deeplens_depth_standin(model)
    sidecar = model.with_suffix(".spec.json")
    sidecar.write_text(json.dumps(spec_to_dict(depth_spec("depth.onnx", hashlib.sha256(data).hexdigest()))))
    code, out, err = run_cli(["depth", str(photo), "--depth-model", str(model), "--json"])
    assert code == 0, err
    assert json.loads(out)["model"] == "deeplens-depth-test"
    # A sidecar from another export is refused rather than trusted.
    sidecar.write_text(json.dumps(spec_to_dict(depth_spec("depth.onnx", "1" * 64))))
    code, _, err = run_cli(["depth", str(photo), "--depth-model", str(model), "--overwrite"])
    assert code == 3 and "export it again" in err
