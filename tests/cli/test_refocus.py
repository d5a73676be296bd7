"""``defocus refocus`` end to end on stand-in G1/G2 installed as bundled weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from defocus_cli.io.image import load_image
from defocus_cli.ops.color import smooth_chroma_change
from defocus_cli.pipelines.refocus import CHROMA_SIGMA_PX
from tests.cli.jobs_testcmd import run_cli
from tests.conftest import write_photo
from tests.models.tiny_refocus import PAIRED_DEBLUR, install_refocus


def _weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **which: Any) -> Path:
    folder = install_refocus(tmp_path / "weights", **which)
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return folder


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return _weights(tmp_path, monkeypatch)


def _photo(tmp_path: Path, name: str = "p.png", size: tuple[int, int] = (40, 32)) -> np.ndarray:
    return write_photo(tmp_path / name, size=size)[..., :3]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "weights")


@pytest.mark.parametrize("delta", ["10", "-10", "1.5", "far", "+"])
def test_delta_out_of_range_is_a_one_line_usage_error(tmp_path: Path, weights: Path, delta: str) -> None:
    _photo(tmp_path)
    code, out, err = run_cli(["refocus", str(tmp_path / "p.png"), "--delta", delta])
    assert code == 2 and out == b""
    assert err.strip().splitlines() == [
        f"defocus: error: --delta must be an integer from -9 to 9 (focal-stack slices, positive = farther), "
        f"got {delta!r}"]
    assert _files(tmp_path) == ["p.png"]


def test_delta_is_required(tmp_path: Path, weights: Path) -> None:
    _photo(tmp_path)
    code, _, err = run_cli(["refocus", str(tmp_path / "p.png")])
    assert code == 2 and "--delta" in err and "Traceback" not in err


def test_two_stages_and_the_report(tmp_path: Path, weights: Path) -> None:
    _photo(tmp_path)
    code, out, err = run_cli(["refocus", str(tmp_path / "p.png"), "-d", "9", "--json", "--mode", "tiles",
                              "--keep-radiance", str(tmp_path / "r.png")])
    assert code == 0, err
    line = json.loads(out)
    assert (line["model"], line["deblur_model"]) == ("refocus-test", "deblur-test")
    assert line["provider"] == line["deblur_provider"] == "CPUExecutionProvider"
    assert (line["delta"], line["stages"], line["mode"], line["passes"]) == (9, 2, "tiles", 1)  # tiles: one pass
    assert line["radiance"] == str(tmp_path / "r.png")
    # The stand-in G2 at delta 9 returns its radiance input, the saved stage 1, whose change of
    # colour the pipeline smooths.
    refocused, radiance = load_image(tmp_path / "p_refocus.png").rgb, load_image(tmp_path / "r.png").rgb
    photo = load_image(tmp_path / "p.png").rgb
    expected = np.clip(smooth_chroma_change(photo, radiance, CHROMA_SIGMA_PX), 0, 1)
    np.testing.assert_allclose(refocused, expected, atol=2 / 255)


def test_stage_one_is_the_deblur_model_the_refocus_model_was_trained_with(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _weights(tmp_path, monkeypatch, paired=PAIRED_DEBLUR)
    _photo(tmp_path)
    args = ["refocus", str(tmp_path / "p.png"), "-d", "9", "--json", "--mode", "tiles", "--overwrite"]
    code, out, err = run_cli(args)
    assert code == 0 and err == "", err
    assert json.loads(out)["deblur_model"] == PAIRED_DEBLUR
    paired = load_image(tmp_path / "p_refocus.png").rgb
    code, out, _ = run_cli([*args, "--deblur-model", "deblur-test"])  # the option still decides
    assert code == 0 and json.loads(out)["deblur_model"] == "deblur-test"
    assert not np.array_equal(paired, load_image(tmp_path / "p_refocus.png").rgb)


def test_a_paired_deblur_model_that_is_not_installed_falls_back_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _weights(tmp_path, monkeypatch, paired="deblur-elsewhere")
    _photo(tmp_path)
    code, out, err = run_cli(["refocus", str(tmp_path / "p.png"), "-d", "5", "--json", "--mode", "tiles"])
    assert code == 0 and json.loads(out)["deblur_model"] == "deblur-test"
    assert err.strip() == ("defocus: warning: refocus-test was trained with the deblur model "
                                    "deblur-elsewhere, which is not installed; using the default deblur model")


def test_kept_radiance_is_the_deblur_commands_result(tmp_path: Path, weights: Path) -> None:
    _photo(tmp_path, "p.jpg", size=(48, 40))
    code, _, err = run_cli(["refocus", str(tmp_path / "p.jpg"), "-d", "-5", "--keep-radiance", str(tmp_path) + "/"])
    assert code == 0, err
    code, _, err = run_cli(["deblur", str(tmp_path / "p.jpg")])
    assert code == 0, err
    assert _files(tmp_path) == ["p.jpg", "p_deblur.jpg", "p_radiance.jpg", "p_refocus.jpg"]
    assert (tmp_path / "p_radiance.jpg").read_bytes() == (tmp_path / "p_deblur.jpg").read_bytes()


def test_delta_zero_returns_the_photo(tmp_path: Path, weights: Path) -> None:
    pixels = _photo(tmp_path)
    code, _, err = run_cli(["refocus", str(tmp_path / "p.png"), "--delta", "0"])
    assert code == 0, err
    np.testing.assert_array_equal(load_image(tmp_path / "p_refocus.png").rgb, pixels)


def test_keep_radiance_refuses_to_overwrite(tmp_path: Path, weights: Path) -> None:
    _photo(tmp_path)
    args = ["refocus", str(tmp_path / "p.png"), "-d", "5", "--keep-radiance", str(tmp_path / "r.png")]
    (tmp_path / "r.png").write_bytes(b"mine")
    code, _, err = run_cli(args)
    assert code == 1 and "r.png exists; pass --overwrite" in err and "Traceback" not in err
    assert (tmp_path / "r.png").read_bytes() == b"mine" and not (tmp_path / "p_refocus.png").exists()
    # --skip-existing keeps it and still refocuses; --overwrite replaces both.
    code, _, err = run_cli([*args, "--skip-existing"])
    assert code == 0, err
    assert (tmp_path / "r.png").read_bytes() == b"mine" and (tmp_path / "p_refocus.png").exists()
    code, _, err = run_cli([*args, "--overwrite"])
    assert code == 0, err
    assert load_image(tmp_path / "r.png").rgb.shape == (32, 40, 3)


@pytest.mark.parametrize(("target", "message"), [
    ("-", "stdout is for the main result"),
    ("r.bmp", "name a .jpg, .png, .tif or .webp file"),
    ("out.png", "--keep-radiance and -o name the same file"),
])
def test_keep_radiance_usage_errors(tmp_path: Path, weights: Path, target: str, message: str) -> None:
    _photo(tmp_path)
    code, out, err = run_cli(["refocus", "p.png", "-d", "5", "-o", "out.png", "--keep-radiance", target],
                             cwd=tmp_path)
    assert code == 2 and out == b"" and message in err and len(err.strip().splitlines()) == 1
    assert _files(tmp_path) == ["p.png"]


def test_keep_radiance_in_a_batch_needs_a_folder_or_template(tmp_path: Path, weights: Path) -> None:
    _photo(tmp_path, "a.png")
    _photo(tmp_path, "b.png")
    code, _, err = run_cli(["refocus", "a.png", "b.png", "-d", "5", "--keep-radiance", "r.png"], cwd=tmp_path)
    assert code == 2 and "names one file, but the inputs are a batch" in err
    code, _, err = run_cli(["refocus", "a.png", "b.png", "-d", "5", "--keep-radiance", "rad/{stem}.png"],
                           cwd=tmp_path)
    assert code == 0, err
    assert _files(tmp_path / "rad") == ["a.png", "b.png"]
    code, _, err = run_cli(["refocus", "a.png", "b.png", "-d", "5", "--keep-radiance", "a.png", "--overwrite"],
                           cwd=tmp_path)
    assert code == 2


def test_keep_radiance_never_replaces_the_input(tmp_path: Path, weights: Path) -> None:
    _photo(tmp_path)
    before = (tmp_path / "p.png").read_bytes()
    code, _, err = run_cli(["refocus", "p.png", "-d", "5", "--keep-radiance", "p.png", "--overwrite"], cwd=tmp_path)
    assert code == 1 and "is the input itself" in err
    assert (tmp_path / "p.png").read_bytes() == before and _files(tmp_path) == ["p.png"]


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_keep_radiance_never_takes_the_main_output_name(tmp_path: Path, weights: Path, extra: list[str]) -> None:
    # the default main output p_refocus.png, named as the radiance file or reached by a template
    _photo(tmp_path)
    for target in ("p_refocus.png", "{stem}_refocus.{ext}"):
        code, _, err = run_cli(["refocus", "p.png", "-d", "5", "--keep-radiance", target, *extra], cwd=tmp_path)
        assert code == 1 and "is this input's main output too" in err and len(err.strip().splitlines()) == 1
        assert _files(tmp_path) == ["p.png"]


def test_untrained_delta_blends_the_nearest_trained_steps(tmp_path: Path, weights: Path) -> None:
    _photo(tmp_path)
    code, out, err = run_cli(["refocus", "p.png", "-d", "3", "--json"], cwd=tmp_path)
    assert code == 0 and "warning" not in err
    assert json.loads(out)["delta_blend"] == {"0": 0.4, "5": 0.6}
    code, out, _ = run_cli(["refocus", "p.png", "-d", "5", "--json", "--overwrite"], cwd=tmp_path)
    assert code == 0 and "delta_blend" not in json.loads(out)


def test_delta_beyond_the_trained_steps_warns_unless_quiet(tmp_path: Path, weights: Path) -> None:
    manifest = weights / "manifest.json"
    entries = json.loads(manifest.read_text())
    for entry in entries:
        if entry["task"] == "refocus":
            entry.setdefault("extra", {})["deltas"] = [8]
    manifest.write_text(json.dumps(entries))
    _photo(tmp_path)
    code, _, err = run_cli(["refocus", "p.png", "-d", "9"], cwd=tmp_path)
    assert code == 0 and "trained on delta 8 only; 9 lies beyond them and is rendered as 8" in err
    code, _, err = run_cli(["refocus", "p.png", "-d", "9", "-q", "--overwrite"], cwd=tmp_path)
    assert code == 0 and err == ""


@pytest.mark.parametrize(("installed", "hint"), [
    ({"refocus": False}, "train one with `defocus train refocus`"),
    ({"deblur": False}, "train one with `defocus train deblur`"),
])
def test_missing_models_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installed: dict[str, bool],
                               hint: str) -> None:
    _weights(tmp_path, monkeypatch, **installed)
    _photo(tmp_path)
    code, out, err = run_cli(["refocus", "p.png", "-d", "5"], cwd=tmp_path)
    assert code == 3 and out == b"" and hint in err and len(err.strip().splitlines()) == 1
    assert ("--deblur-model PATH" in err) == (installed == {"deblur": False})
    assert _files(tmp_path) == ["p.png"]


def test_single_stage_model_runs_alone_and_has_no_stage_to_keep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    _weights(tmp_path, monkeypatch, deblur=False, single_stage=True)
    _photo(tmp_path)
    code, out, err = run_cli(["refocus", "p.png", "-d", "9", "--json"], cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["stages"] == 1 and "deblur_model" not in json.loads(out)
    code, _, err = run_cli(["refocus", "p.png", "-d", "9", "--keep-radiance", "r.png", "--overwrite"], cwd=tmp_path)
    assert code == 2 and "single-stage" in err
