"""``defocus magnify`` end to end: ``--method map``, and ``--method gan`` with the stand-in
network of tests/models/tiny_magnify.py installed as bundled weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from defocus_cli.io.image import load_image
from defocus_cli.io.maps import save_map
from tests.cli.jobs_testcmd import run_cli, run_subprocess
from tests.conftest import write_photo
from tests.models.tiny_magnify import NAME, install_magnify

REPO = Path(__file__).resolve().parents[2]


def test_m1_keeps_pixels(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    pixels = write_photo(photo, size=(40, 30))
    code, _, err = run_cli(["magnify", str(photo), "-m", "1"])
    assert code == 0, err
    np.testing.assert_array_equal(load_image(tmp_path / "p_magnify.png").rgb, pixels[..., :3])


def test_given_defocus_map(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    pixels = write_photo(photo, size=(40, 30))
    coc = np.zeros((30, 40), np.float32)
    coc[:, 20:] = 3.0
    save_map(coc, tmp_path / "map.png", "defocus", "png")
    code, out, err = run_cli(["magnify", str(photo), "-m", "3", "--defocus-map", str(tmp_path / "map.png"),
                              "--no-grain", "--json"])
    assert code == 0, err
    assert b'"defocus_map": "given"' in out
    result = load_image(tmp_path / "p_magnify.png").rgb
    np.testing.assert_array_equal(result[:, :12], pixels[:, :12, :3])
    assert not np.allclose(result[:, 28:], pixels[:, 28:, :3], atol=2 / 255)


def test_usage_errors(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(40, 30))
    for m in ("0.5", "4.5", "two"):
        code, _, err = run_cli(["magnify", str(photo), "-m", m])
        assert code == 2 and "magnification" in err
    code, _, err = run_cli(["magnify", str(photo), "--method", "cnn"])
    assert code == 2
    np.save(tmp_path / "small.npy", np.zeros((10, 10), np.float32))
    code, _, err = run_cli(["magnify", str(photo), "--defocus-map", str(tmp_path / "small.npy")])
    assert code == 1 and "maps are in pixels of their image" in err



@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("method", ["map", "gan"])
def test_given_defocus_map_with_non_finite_values_fails_the_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  bad: float, method: str) -> None:
    if method == "gan":
        monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(install_magnify(tmp_path / "weights")))
    write_photo(tmp_path / "p.png", size=(40, 30))
    coc = np.full((30, 40), 2.0, np.float32)
    coc[5, 7] = bad
    np.save(tmp_path / "map.npy", coc)
    code, _, err = run_cli(["magnify", "p.png", "-m", "2", "--method", method, "--defocus-map", "map.npy"],
                           cwd=tmp_path)
    assert code == 1 and "NaN or infinite" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p_magnify.png").exists()

def test_main_job_line_on_the_example_photo(tmp_path: Path) -> None:
    # The README's first command, with no weights, in a fresh interpreter; torch stays out.
    example = REPO / "examples" / "chelsea.jpg"
    out = tmp_path / "chelsea_m2.jpg"
    code = (
        "import sys\n"
        "from defocus_cli.cli.main import main\n"
        "try:\n"
        f"    main(['magnify', {str(example)!r}, '-m', '2', '-o', {str(out)!r}])\n"
        "except SystemExit as done:\n"
        "    assert 'torch' not in sys.modules\n"
        "    raise\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=REPO)
    assert done.returncode == 0, done.stderr.decode()
    assert load_image(out).rgb.shape == load_image(example).rgb.shape


def test_map_estimator_defaults_to_fused_with_a_defocus_map_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.models.tiny_dmenet import NAME as MAP_NAME
    from tests.models.tiny_dmenet import install_dmenet

    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(install_dmenet(tmp_path / "weights")))
    photo = tmp_path / "p.png"
    write_photo(photo, size=(40, 30))
    code, out, err = run_cli(["magnify", str(photo), "-m", "2", "--json"])
    assert code == 0, err
    line = json.loads(out)
    assert line["defocus_map"] == "fused" and line["map_model"] == MAP_NAME
    assert line["map_provider"] == "CPUExecutionProvider"
    code, out, err = run_cli(["magnify", str(photo), "-m", "2", "--json", "--map-estimator", "classical",
                              "--overwrite"])
    assert code == 0, err
    line = json.loads(out)
    assert line["defocus_map"] == "classical" and "map_model" not in line


def test_map_estimator_without_a_model_and_with_a_given_map(tmp_path: Path, no_weights: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(40, 30))
    code, out, err = run_cli(["magnify", str(photo), "--json"])
    assert code == 0, err
    assert json.loads(out)["defocus_map"] == "classical"  # nothing to fuse with
    code, _, err = run_cli(["magnify", str(photo), "--map-estimator", "fused", "--overwrite"])
    assert code == 3 and "--map-estimator classical" in err and len(err.strip().splitlines()) == 1
    np.save(tmp_path / "m.npy", np.zeros((30, 40), np.float32))
    code, _, err = run_cli(["magnify", str(photo), "--map-estimator", "classical", "--defocus-map",
                            str(tmp_path / "m.npy"), "--overwrite"])
    assert code == 2 and "--defocus-map" in err


@pytest.fixture
def gan_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = install_magnify(tmp_path / "weights")
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(folder))
    return folder


def _half_blurred_map(tmp_path: Path, height: int, width: int) -> Path:
    coc = np.zeros((height, width), np.float32)
    coc[:, width // 2:] = 4.0
    path = tmp_path / "map.npy"
    np.save(path, coc)
    return path


def test_gan_reports_model_and_provider_and_keeps_in_focus_pixels(tmp_path: Path, gan_weights: Path) -> None:
    photo = tmp_path / "p.png"
    pixels = write_photo(photo, size=(41, 27))
    defocus_map = _half_blurred_map(tmp_path, 27, 41)
    code, out, err = run_cli(["magnify", str(photo), "-m", "3", "--method", "gan", "--defocus-map",
                              str(defocus_map), "--device", "cpu", "--threads", "1", "--json"])
    assert code == 0, err
    line = json.loads(out)
    assert line["status"] == "ok" and line["method"] == "gan"
    assert line["model"] == NAME and len(line["model_sha256"]) == 64
    assert line["provider"] == "CPUExecutionProvider"
    assert line["defocus_map"] == "given" and line["working_size"]
    result = load_image(tmp_path / "p_magnify.png").rgb
    np.testing.assert_array_equal(result[:, :20], pixels[:, :20, :3])
    assert not np.array_equal(result[:, 21:], pixels[:, 21:, :3])


def test_gan_m1_keeps_pixels(tmp_path: Path, gan_weights: Path) -> None:
    photo = tmp_path / "p.png"
    pixels = write_photo(photo, size=(40, 30))
    code, _, err = run_cli(["magnify", str(photo), "-m", "1", "--method", "gan"])
    assert code == 0, err
    np.testing.assert_array_equal(load_image(tmp_path / "p_magnify.png").rgb, pixels[..., :3])


@pytest.mark.parametrize(("name", "bit_depth"), [("alpha.png", 8), ("deep.png", 16), ("deep.tif", 16)])
def test_gan_keeps_alpha_and_bit_depth(tmp_path: Path, gan_weights: Path, name: str, bit_depth: int) -> None:
    photo = tmp_path / name
    pixels = write_photo(photo, mode="RGBA", bit_depth=bit_depth, size=(37, 23))
    defocus_map = _half_blurred_map(tmp_path, 23, 37)
    code, _, err = run_cli(["magnify", str(photo), "-m", "2", "--method", "gan", "--defocus-map", str(defocus_map)])
    assert code == 0, err
    result = load_image(tmp_path / f"{photo.stem}_magnify{photo.suffix}")
    assert result.bit_depth == bit_depth and result.alpha is not None
    step = 1 / (255 if bit_depth == 8 else 65535)
    np.testing.assert_allclose(result.alpha, pixels[..., 3], atol=step / 2)
    np.testing.assert_allclose(result.rgb[:, :17], pixels[:, :17, :3], atol=step / 2)


def test_gan_without_a_model_exits_3_with_a_hint(tmp_path: Path, no_weights: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(40, 30))
    code, out, err = run_cli(["magnify", str(photo), "--method", "gan", "--json"])
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "--method map" in lines[0] and "--model" in lines[0]
    assert out == b"" and not (tmp_path / "p_magnify.png").exists()


def test_method_specific_options_are_usage_errors(tmp_path: Path, gan_weights: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(40, 30))
    code, _, err = run_cli(["magnify", str(photo), "--method", "gan", "--bokeh", "poly:6"])
    assert code == 2 and "--bokeh applies to --method map" in err
    code, _, err = run_cli(["magnify", str(photo), "--model", NAME])
    assert code == 2 and "--model applies to --method gan" in err
    assert not (tmp_path / "p_magnify.png").exists()


def test_gan_runs_without_torch(tmp_path: Path, gan_weights: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(40, 30))
    done = run_subprocess(["magnify", str(photo), "-m", "2", "--method", "gan"],
                          extra_code="assert 'torch' not in sys.modules, 'torch was imported'")
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "p_magnify.png").exists()
