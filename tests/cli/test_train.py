"""Tests for defocus_cli/cli/train.py, export.py and eval.py: exit codes, stderr, run files."""

from __future__ import annotations

import subprocess
import sys

import pytest

from defocus_cli.cli import train as train_cmd
from defocus_cli.cli.main import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "defocus_cli", *args], capture_output=True, text=True, timeout=300)


def test_commands_do_not_import_torch_until_they_run():
    code = ("import sys, defocus_cli.cli.train, defocus_cli.cli.export, defocus_cli.cli.eval; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_missing_torch_is_a_one_line_usage_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(train_cmd, "torch_available", lambda: False)
    for argv in (["train", "magnify", "--out", str(tmp_path / "r")], ["export", str(tmp_path), "-o", "m.onnx"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "defocus-cli[train]" in err


def test_train_export_eval_cli(tmp_path):
    run = tmp_path / "run"
    done = _run("train", "deblur", "--out", str(run), "--width", "tiny", "--steps", "2", "--workers", "0",
                "--set", "data.val_samples=2", "--set", "data.crop=[32, 48]")
    assert done.returncode == 0, done.stderr
    assert "deblur: 2 steps" in done.stderr and (run / "checkpoints" / "last.pt").is_file()
    assert (run / "metrics.jsonl").read_text().count('"split": "val"') == 1

    again = _run("train", "deblur", "--out", str(run), "--steps", "2")
    assert again.returncode == 2 and "--resume" in again.stderr and "Traceback" not in again.stderr

    table = _run("eval", "deblur", "--model", str(run), "--samples", "1", "--size", "32")
    assert table.returncode == 0, table.stderr
    assert "Seed 001 Table 1" in table.stdout and "Composite Focus Measure" in table.stdout


@pytest.mark.parametrize("args, needle", [
    (["--set", "model.nope=1"], "model.nope"),
    (["--set", "oops"], "SECTION.KEY=VALUE"),
    (["--set", "data.crop=[30, 30]"], "multiples of 4"),
])
def test_train_bad_config_is_one_line_exit_2(tmp_path, args, needle, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "magnify", "--out", str(tmp_path / "r"), "--width", "tiny", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_set_reads_exponent_numbers_as_floats():
    from defocus_cli.cli.train import parse_sets

    parsed = parse_sets(("train.lr=5e-4", "model.name=cpu", "train.steps=10"))
    assert parsed == {"train": {"lr": 5e-4, "steps": 10}, "model": {"name": "cpu"}}


def test_stop_after_ends_the_session_with_a_checkpoint_and_resume_goes_on(tmp_path):
    run = tmp_path / "run"
    base = ("train", "deblur", "--out", str(run), "--width", "tiny", "--steps", "6", "--workers", "0",
            "--set", "data.val_samples=1", "--set", "data.crop=[32, 32]", "--set", "train.val_every=0")
    done = _run(*base, "--stop-after", "2")
    assert done.returncode == 0, done.stderr
    assert "deblur: 2 steps" in done.stderr and (run / "checkpoints" / "last.pt").is_file()
    resumed = _run("train", "deblur", "--out", str(run), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "deblur: 6 steps" in resumed.stderr


def test_sigterm_saves_a_checkpoint(tmp_path):
    import signal
    import time

    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "defocus_cli", "train", "deblur", "--out", str(run), "--width", "tiny",
         "--steps", "100000", "--workers", "0", "--set", "data.val_samples=1", "--set", "data.crop=[32, 32]",
         "--set", "train.log_every=1", "--set", "train.val_every=0", "--set", "train.ckpt_every=0"],
        stderr=subprocess.PIPE, text=True)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (metrics.is_file() and metrics.read_text().count("\n") >= 3):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "checkpoint saved" in err and "Traceback" not in err
    assert (run / "checkpoints" / "last.pt").is_file()
