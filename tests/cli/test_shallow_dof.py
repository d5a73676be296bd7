"""``defocus shallow-dof`` end to end: exit codes, stderr, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defocus_cli.io.image import load_image
from tests.cli.jobs_testcmd import run_cli
from tests.conftest import write_photo
from tests.models.tiny_deeplens import install_deeplens


def _setup(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    photo = tmp_path / "p.png"
    pixels = write_photo(photo, size=(48, 32))
    depth = np.full((32, 48), 0.1, np.float32)
    depth[8:24, 12:36] = 0.9
    np.save(tmp_path / "d.npy", depth)
    return photo, tmp_path / "d.npy", pixels


def test_renders_with_focus_point_and_keeps_subject(tmp_path: Path) -> None:
    photo, depth, pixels = _setup(tmp_path)
    code, out, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--focus-point", "50%,50%",
                              "--blur-radius", "6", "--no-grain", "--json"])
    assert code == 0, err
    assert b'"focus_depth": 0.9' in out
    result = load_image(tmp_path / "p_shallow-dof.png").rgb
    np.testing.assert_allclose(result[10:22, 14:34], pixels[10:22, 14:34, :3], atol=1 / 255)
    assert not np.allclose(result[:4], pixels[:4, :, :3], atol=2 / 255)


def test_png_depth_resized_and_polygon_bokeh(tmp_path: Path) -> None:
    photo, _, _ = _setup(tmp_path)
    depth = np.zeros((16, 24), np.uint16)
    depth[4:12, 6:18] = 60000
    Image.fromarray(depth).save(tmp_path / "d16.png")
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(tmp_path / "d16.png"), "--focus-depth", "0",
                            "--bokeh", "poly:6,15", "--highlights", "off", "-o", str(tmp_path / "o.png")])
    assert code == 0, err
    assert Image.open(tmp_path / "o.png").size == (48, 32)


def test_depth_folder_per_input(tmp_path: Path) -> None:
    photo, depth, _ = _setup(tmp_path)
    (tmp_path / "depths").mkdir()
    np.save(tmp_path / "depths" / "p.npy", np.load(depth))
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(tmp_path / "depths"), "--focus-depth", "0.5"])
    assert code == 0, err


def test_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photo, depth, _ = _setup(tmp_path)
    # Both focus options: usage.
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--focus-depth", "0.5",
                            "--focus-point", "1,1"])
    assert code == 2 and "at most one of --focus-depth" in err
    # Without --depth, the depth model is needed: none installed is exit 3 with a hint.
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    code, _, err = run_cli(["shallow-dof", str(photo), "--focus-depth", "0.5"])
    assert code == 3 and "--depth-model depth-anything-v2-small" in err and "--depth FILE" in err
    assert not (tmp_path / "p_shallow-dof.png").exists()
    # Aspect ratio mismatch: that input fails, one line, exit 1.
    np.save(tmp_path / "tall.npy", np.zeros((48, 32), np.float32))
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(tmp_path / "tall.npy"), "--focus-depth", "0.5"])
    assert code == 1 and "aspect ratios differ" in err and "Traceback" not in err
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(tmp_path / "nope.npy"), "--focus-depth", "0.5"])
    assert code == 1 and "no such file" in err
    for bad in (["--bokeh", "star"], ["--highlights", "2,3"], ["--blur-radius", "big"], ["--focus-point", "1,2%"]):
        args = ["shallow-dof", str(photo), "--depth", str(depth), "--focus-depth", "0.5", *bad]
        if bad[0] == "--focus-point":
            args = ["shallow-dof", str(photo), "--depth", str(depth), *bad]
        code, _, err = run_cli(args)
        assert code == 2, (bad, err)
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--focus-point", "500,5"])
    assert code == 1 and "outside" in err


def test_without_focus_options_focuses_the_central_subject(tmp_path: Path) -> None:
    photo, depth, pixels = _setup(tmp_path)
    code, out, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--blur-radius", "6",
                              "--no-grain", "--json"])
    assert code == 0, err
    line = json.loads(out)
    assert line["focus"] == "auto" and line["focus_depth"] == pytest.approx(0.9)
    result = load_image(tmp_path / "p_shallow-dof.png").rgb
    np.testing.assert_allclose(result[10:22, 14:34], pixels[10:22, 14:34, :3], atol=1 / 255)


def test_json_reports_how_the_focus_was_chosen_with_a_depth_file(tmp_path: Path) -> None:
    photo, depth, _ = _setup(tmp_path)
    for option, how in ((["--focus-point", "50%,50%"], "point"), (["--focus-depth", "0.9"], "depth")):
        code, out, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), *option, "--overwrite", "--json"])
        assert code == 0, err
        line = json.loads(out)
        assert (line["focus"], line["depth"], line["lens"]) == (how, "file", "classical")


def test_help_names_the_automatic_focus_rule() -> None:
    code, out, _ = run_cli(["shallow-dof", "--help"])
    assert code == 0 and "colour saliency" in " ".join(out.decode().split())


def test_aperture_is_sugar_for_blur_radius(tmp_path: Path) -> None:
    photo, depth, _ = _setup(tmp_path)
    code, out, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--focus-depth", "0.9",
                              "--aperture", "f/1.4", "--json"])
    assert code == 0, err
    assert json.loads(out)["blur_radius_px"] == pytest.approx(0.04 * 48)  # (2.8 / 1.4) x 2% of 48 px
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--aperture", "2.8",
                            "--blur-radius", "5"])
    assert code == 2 and "--aperture" in err
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--aperture", "wide"])
    assert code == 2 and "f-number" in err


def test_focus_range_keeps_the_band_sharp_with_either_lens(tmp_path: Path, deeplens: Path) -> None:
    photo, depth, pixels = _setup(tmp_path)
    for lens in ("classical", "learned"):
        out_file = tmp_path / f"{lens}.png"
        # Focus 0.5 with a range of 0.9: the band 0.05..0.95 holds both the subject (0.9)
        # and the background (0.1), so nothing blurs.
        code, out, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--focus-depth", "0.5",
                                  "--focus-range", "0.9", "--blur-radius", "6", "--lens", lens, "--no-grain",
                                  "--json", "-o", str(out_file)])
        assert code == 0, err
        assert json.loads(out)["focus_range"] == 0.9
        np.testing.assert_allclose(load_image(out_file).rgb, pixels[..., :3], atol=1 / 255)
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--focus-range", "2"])
    assert code == 2 and "--focus-range" in err


@pytest.fixture
def deeplens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = install_deeplens(tmp_path / "weights")
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(folder))
    return folder


def test_predicted_depth_then_classical_render(tmp_path: Path, deeplens: Path) -> None:
    photo, _, _ = _setup(tmp_path)
    code, out, err = run_cli(["shallow-dof", str(photo), "--focus-point", "10,10", "--json"])
    assert code == 0, err
    line = json.loads(out)
    assert line["depth"] == "predicted" and line["lens"] == "classical" and line["focus"] == "point"
    assert line["model"] == "deeplens-depth-test" and len(line["model_sha256"]) == 64
    assert Image.open(tmp_path / "p_shallow-dof.png").size == (48, 32)


def test_learned_lens_with_given_and_predicted_depth(tmp_path: Path, deeplens: Path) -> None:
    photo, depth, pixels = _setup(tmp_path)
    code, out, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--focus-depth", "0.9",
                              "--blur-radius", "5", "--lens", "learned", "--no-grain", "--json"])
    assert code == 0, err
    line = json.loads(out)
    assert line["lens"] == "learned" and line["depth"] == "file" and line["model"] == "deeplens-blur-test"
    result = load_image(tmp_path / "p_shallow-dof.png").rgb
    # The stand-in greys by |alpha (D - d_f)| = 0.5 x 0.8 behind, keeps the focused subject.
    np.testing.assert_allclose(result[12:20, 18:30], pixels[12:20, 18:30, :3], atol=1 / 255)
    np.testing.assert_allclose(result[1, 1], pixels[1, 1, :3] * 0.6 + 0.2, atol=1.5 / 255)
    code, out, err = run_cli(["shallow-dof", str(photo), "--lens", "learned", "--json", "-o",
                              str(tmp_path / "both.png")])
    assert code == 0, err
    line = json.loads(out)
    assert (line["model"], line["lens_model"]) == ("deeplens-depth-test", "deeplens-blur-test")


def test_learned_lens_usage_and_missing_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    photo, depth, _ = _setup(tmp_path)
    base = ["shallow-dof", str(photo), "--depth", str(depth), "--focus-depth", "0.5"]
    code, _, err = run_cli([*base, "--lens", "learned", "--bokeh", "poly:6"])
    assert code == 2 and "--bokeh" in err
    code, _, err = run_cli([*base, "--lens-model", "x.onnx"])
    assert code == 2 and "--lens learned" in err
    code, _, err = run_cli([*base, "--depth-model", "depth-anything-v2-small"])
    assert code == 2 and "--depth" in err
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    code, out, err = run_cli([*base, "--lens", "learned"])
    assert code == 3 and "--lens classical" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p_shallow-dof.png").exists()


def test_auto_focus_follows_the_subject_that_stands_out(tmp_path: Path, deeplens: Path) -> None:
    # Stand-in depth = channel mean. A dull block, a little darker (farther) than the ground,
    # fills the centre; a light blue subject, the nearest, sits in a corner far from the
    # centre: the photo's colour saliency, not the centre, picks the subject.
    pixels = np.zeros((64, 96, 3), np.uint8)
    pixels[..., :2] = 150
    pixels[16:48, 32:64, :2] = 135
    pixels[2:22, 2:30] = (120, 120, 255)
    Image.fromarray(pixels).save(tmp_path / "s.png")
    code, out, err = run_cli(["shallow-dof", str(tmp_path / "s.png"), "--json"])
    assert code == 0, err
    line = json.loads(out)
    assert line["focus"] == "auto" and line["subject"] == "saliency"
    assert line["focus_depth"] == pytest.approx(1.0, abs=0.02)  # the subject's depth, the nearest
    # With a depth file, the same: the saliency comes from the photo.
    depth = np.full((64, 96), 0.3, np.float32)
    depth[16:48, 32:64] = 0.1
    depth[2:22, 2:30] = 0.8
    np.save(tmp_path / "s.npy", depth)
    code, out, err = run_cli(["shallow-dof", str(tmp_path / "s.png"), "--depth", str(tmp_path / "s.npy"),
                              "--json", "-o", str(tmp_path / "given.png")])
    assert code == 0, err
    line = json.loads(out)
    assert line["subject"] == "saliency" and line["focus_depth"] == pytest.approx(0.8, abs=0.02)
    # Where the corner does not stand out, it is not the subject, near as it is.
    plain = pixels.copy()
    plain[2:22, 2:30] = (150, 150, 0)
    Image.fromarray(plain).save(tmp_path / "plain.png")
    code, out, err = run_cli(["shallow-dof", str(tmp_path / "plain.png"), "--depth", str(tmp_path / "s.npy"),
                              "--json", "-o", str(tmp_path / "plain_out.png")])
    assert code == 0, err
    assert json.loads(out)["focus_depth"] < 0.5
