"""``defocus defocus-map`` end to end: both methods, the learned model's options and report,
the fallback without a model, --colorize and --binary outputs, and bad combinations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defocus_cli.io.maps import load_map
from tests.cli.jobs_testcmd import run_cli, run_subprocess
from tests.conftest import write_photo
from tests.models.tiny_dmenet import NAME, RADIUS_PER_UNIT, dmenet_standin, install_dmenet

FALLBACK = "no defocus-map model is installed; using --method classical"


@pytest.fixture
def dmenet_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = install_dmenet(tmp_path / "weights")
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(folder))
    return folder


def _noise_photo(path: Path, height: int = 40, width: int = 56, left: float = 0.5, right: float = 0.5) -> np.ndarray:
    """Sharp noise (so the learned method runs at full size) around ``left``/``right`` means;
    returns the stored pixels in [0, 1]."""
    rng = np.random.default_rng(5)
    means = np.where(np.arange(width) < width // 2, left, right)[None, :, None]
    pixels = np.clip(means + rng.uniform(-0.1, 0.1, (height, width, 3)), 0, 1)
    samples = (pixels * 255 + 0.5).astype(np.uint8)
    Image.fromarray(samples).save(path)
    return samples.astype(np.float32) / 255


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file()}


def test_formats_and_units(tmp_path: Path, no_weights: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(48, 32))
    code, out, err = run_cli(["defocus-map", str(photo), "--method", "classical", "--format", "npy", "--json"])
    assert code == 0, err
    assert b'"method": "classical"' in out
    values = np.load(tmp_path / "p_defocus-map.npy")
    assert values.shape == (32, 48) and values.dtype == np.float32 and values.min() >= 0
    code, _, err = run_cli(["defocus-map", str(photo), "--format", "png", "-o", str(tmp_path / "m.png")])
    assert code == 0, err
    np.testing.assert_allclose(load_map(tmp_path / "m.png"), values, atol=1 / 256)
    code, _, err = run_cli(["defocus-map", str(photo), "--colorize", "-o", str(tmp_path / "c.png")])
    assert code == 0, err
    assert Image.open(tmp_path / "c.png").mode == "RGB"


def test_binary_mask(tmp_path: Path, no_weights: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(48, 32))
    code, _, err = run_cli(["defocus-map", str(photo), "--binary", "0.5", "--format", "npy"])
    assert code == 0, err
    mask = np.load(tmp_path / "p_defocus-map.npy")
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_usage_errors(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(48, 32))
    code, _, err = run_cli(["defocus-map", str(photo), "--method", "dmenet-nope"])
    assert code == 2
    code, _, err = run_cli(["defocus-map", str(photo), "--binary", "-1"])
    assert code == 2
    code, _, err = run_cli(["defocus-map", str(tmp_path / "missing.jpg")])
    assert code != 0 and "Traceback" not in err


def test_learned_is_the_default_with_a_model_and_reports_it(tmp_path: Path, dmenet_weights: Path) -> None:
    photo = tmp_path / "p.png"
    pixels = _noise_photo(photo)
    code, out, err = run_cli(["defocus-map", str(photo), "--format", "npy", "--device", "cpu",
                              "--threads", "1", "--json"])
    assert code == 0, err
    line = json.loads(out)
    assert line["status"] == "ok" and line["method"] == "learned"
    assert line["model"] == NAME and len(line["model_sha256"]) == 64
    assert line["provider"] == "CPUExecutionProvider"
    assert line["working_size"] == "56x40" and line["blur_scale_px"] < 5.0
    values = np.load(tmp_path / "p_defocus-map.npy")
    np.testing.assert_allclose(values, RADIUS_PER_UNIT * pixels.mean(axis=2), atol=1e-4)
    assert FALLBACK not in err


def test_without_a_model_falls_back_to_classical_with_one_note(tmp_path: Path, no_weights: Path) -> None:
    for name in ("a.png", "b.png"):
        write_photo(tmp_path / name, size=(40, 28))
    code, out, err = run_cli(["defocus-map", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--json"])
    assert code == 0, err
    assert err.count(FALLBACK) == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["method"] for line in lines] == ["classical", "classical"]
    assert all(line["model"] is None and line["provider"] is None for line in lines)
    code, _, err = run_cli(["defocus-map", str(tmp_path / "a.png"), "--overwrite", "-q"])
    assert code == 0 and err == ""


def test_learned_without_a_model_exits_3_with_a_hint(tmp_path: Path, no_weights: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo)
    code, _, err = run_cli(["defocus-map", str(photo), "--method", "learned"])
    assert code == 3
    assert err.count("\n") == 1 and "--method classical" in err and "Traceback" not in err
    assert _files(tmp_path) == {"p.png"}


def test_model_options_without_a_model_do_not_fall_back_silently(tmp_path: Path, no_weights: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo)
    code, _, err = run_cli(["defocus-map", str(photo), "--device", "cpu"])
    assert code == 3 and FALLBACK not in err and "needs a defocus-map model" in err
    assert _files(tmp_path) == {"p.png"}


def test_own_onnx_file_runs_learned_padded_to_16(tmp_path: Path, no_weights: Path) -> None:
    # a bare .onnx (no spec beside it) still gets sides that are multiples of 16
    model = tmp_path / "mine.onnx"
    dmenet_standin(model)
    photo = tmp_path / "p.png"
    pixels = _noise_photo(photo, height=23, width=37)
    code, out, err = run_cli(["defocus-map", str(photo), "--model", str(model), "--format", "npy", "--json"])
    assert code == 0, err
    assert json.loads(out)["method"] == "learned"
    np.testing.assert_allclose(np.load(tmp_path / "p_defocus-map.npy"), RADIUS_PER_UNIT * pixels.mean(axis=2), atol=1e-4)


@pytest.mark.parametrize("method", ["learned", "classical"])
def test_colorize_writes_an_rgb_preview_with_a_legend(tmp_path: Path, dmenet_weights: Path, method: str) -> None:
    photo = tmp_path / "p.png"
    _noise_photo(photo, height=60, width=200, left=0.2, right=0.8)
    code, _, err = run_cli(["defocus-map", str(photo), "--method", method, "--colorize"])
    assert code == 0, err
    with Image.open(tmp_path / "p_defocus-map.png") as image:
        assert image.mode == "RGB"
        preview = np.asarray(image)
    assert preview.shape[1] == 200 and preview.shape[0] > 60
    body, legend = preview[:60], preview[60:]
    white = np.all(legend == 255, axis=2)
    dark = np.all(legend < 60, axis=2)
    assert white.mean() > 0.5 and dark.sum() > 20  # a white strip with drawn ticks and labels
    assert not np.all(body == 255, axis=2).any()  # the map itself is all colour-mapped
    if method == "learned":  # brighter half = larger radius = the other end of the colour map
        assert np.abs(body[:, :90].astype(int).mean((0, 1)) - body[:, 110:].astype(int).mean((0, 1))).sum() > 100


def test_binary_png_is_a_plain_black_and_white_mask(tmp_path: Path, dmenet_weights: Path) -> None:
    photo = tmp_path / "p.png"
    _noise_photo(photo, left=0.15, right=0.85)  # the stand-in reads ~1.2 px | ~6.8 px
    code, out, err = run_cli(["defocus-map", str(photo), "--binary", "4", "--json"])
    assert code == 0, err
    assert json.loads(out)["binary_threshold_px"] == 4.0
    with Image.open(tmp_path / "p_defocus-map.png") as image:
        assert image.mode == "L" and "defocus:scale" not in image.info
        mask = np.asarray(image)
    expected = np.zeros((40, 56), np.uint8)
    expected[:, 28:] = 255
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(load_map(tmp_path / "p_defocus-map.png"), expected / 255)


@pytest.mark.parametrize("args", [
    ["--colorize", "--binary", "1"],
    ["--colorize", "--format", "npy"],
    ["--colorize", "-o", "{stem}_preview.npy"],
    ["--method", "classical", "--device", "cpu"],
    ["--method", "classical", "--model", "dmenet-test"],
])
def test_bad_combinations_exit_2_on_one_line(tmp_path: Path, dmenet_weights: Path, args: list[str]) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo)
    code, out, err = run_cli(["defocus-map", str(photo), *args], cwd=tmp_path)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("defocus: error: ") and "Traceback" not in err
    assert out == b"" and _files(tmp_path) == {"p.png"}


@pytest.mark.parametrize("args", [["--format", "tiff"], ["-o", "{stem}_preview.tif"]])
def test_colorized_preview_can_be_a_tiff_as_for_depth(tmp_path: Path, dmenet_weights: Path, args: list[str]) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(56, 40))
    code, _, err = run_cli(["defocus-map", str(photo), "--colorize", "--method", "classical", *args], cwd=tmp_path)
    assert code == 0, err
    (written,) = [p for p in tmp_path.iterdir() if p.suffix == ".tif"]
    with Image.open(written) as image:
        assert image.mode == "RGB" and image.size[0] == 56 and image.size[1] > 40  # legend strip below


def test_learned_job_never_imports_torch(tmp_path: Path, dmenet_weights: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo)
    done = run_subprocess(["defocus-map", str(photo), "--method", "learned", "--format", "npy"],
                          extra_code="assert 'torch' not in sys.modules, 'torch was imported'")
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "p_defocus-map.npy").is_file()
