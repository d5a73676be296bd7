"""``defocus data synth``: outputs, exit codes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from defocus_cli.cli.main import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(args)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_synth_writes_samples_and_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["data", "synth", "--task", "refocus", "-n", "2", "-o", str(tmp_path / "o"),
                           "--size", "16,20", "--seed", "3"], capsys)
    assert code == 0, err
    assert out == ""  # stdout stays clean
    assert "wrote 2 refocus samples (16x20)" in err
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["keys"]["slices"] == "stack"
    assert (tmp_path / "o" / "000001_slices_09.png").is_file()


def test_synth_refuses_non_empty_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.txt").write_text("keep")
    code, _, err = _run(["data", "synth", "--task", "syndof", "-n", "1", "-o", str(tmp_path), "--size", "16"], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and "not empty" in err and "--overwrite" in err
    code, _, err = _run(["data", "synth", "--task", "syndof", "-n", "1", "-o", str(tmp_path), "--size", "16",
                         "--overwrite", "--quiet"], capsys)
    assert code == 0 and err == ""


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "magnify", "-n", "1", "--size", "4"], "--size"),
    (["--task", "magnify", "-n", "0"], "-n"),
    (["--task", "nope", "-n", "1"], "--task"),
])
def test_synth_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, _, err = _run(["data", "synth", "-o", str(tmp_path / "o"), *args], capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "o").exists()


def test_from_rgbd_needs_syndof(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["data", "synth", "--task", "magnify", "-n", "1", "-o", str(tmp_path / "o"),
                         "--from-rgbd", str(tmp_path)], capsys)
    assert code == 2 and "syndof only" in err


def test_synth_param_sets_the_samplers_mix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["data", "synth", "--task", "depth", "-n", "1", "-o", str(tmp_path / "o"), "--size", "32",
                         "--format", "npz", "--param", "closeup_share=1", "--param", "composite_share=0", "-q"], capsys)
    assert code == 0, err
    import numpy as np

    with np.load(tmp_path / "o" / "000000.npz") as sample:
        assert float(sample["segmentation"].mean()) > 0.15  # a close-up fills much of the frame


@pytest.mark.parametrize(("param", "message"), [("bogus=1", "closeup_share"), ("dof_share=x", "needs a number"),
                                                ("dof_share", "KEY=NUMBER")])
def test_synth_param_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], param: str, message: str) -> None:
    code, _, err = _run(["data", "synth", "--task", "depth", "-n", "1", "-o", str(tmp_path / "o"), "--param", param],
                        capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "o").exists()
