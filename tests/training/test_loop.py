"""Tests for defocus_cli/training/loop.py and distributed.py: run folders, resume, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from defocus_cli.errors import UsageError
from defocus_cli.training.loop import read_metrics, train

FAST = {"train": {"num_workers": 0, "log_every": 1, "val_every": 3, "ckpt_every": 2}, "data": {"val_samples": 1}}


def _overrides(steps: int) -> dict:
    return {"train": {**FAST["train"], "steps": steps}, "data": dict(FAST["data"])}


def _losses(run: Path) -> dict[int, dict]:
    return {r["step"]: r for r in read_metrics(run) if r["split"] == "train"}


def test_run_folder_contents(tmp_path):
    run = tmp_path / "run"
    result = train("magnify", run, width="tiny", overrides=_overrides(3))
    assert result["step"] == 3 and set(result["val"]) == {"psnr", "ssim"}
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["system"] == "magnify" and config["train"]["steps"] == 3 and config["width"] == "tiny"
    notes = json.loads((run / "notes.json").read_text())
    assert "substitute" in notes["content_loss"] and notes["data"]["kind"] == "synthetic"
    records = read_metrics(run)
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 2, 3]
    assert [r["step"] for r in records if r["split"] == "val"] == [3]
    assert (run / "checkpoints" / "last.pt").is_file() and list((run / "visuals").glob("*.png"))
    with pytest.raises(UsageError, match="--resume"):
        train("magnify", run, width="tiny", overrides=_overrides(3))


def test_resume_matches_an_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole"
    train("magnify", whole, width="tiny", overrides=_overrides(4))
    cut = tmp_path / "cut"
    train("magnify", cut, width="tiny", overrides=_overrides(4), stop_after=2)  # "killed" after step 2
    assert max(_losses(cut)) == 2
    result = train("magnify", cut, resume=True)
    assert result["step"] == 4
    said: list[str] = []
    again = train("magnify", cut, resume=True, echo=said.append)  # already finished
    assert again["step"] == 4 and max(_losses(cut)) == 4
    assert any("nothing to train" in line for line in said)
    a, b = _losses(whole), _losses(cut)
    for step in (3, 4):
        for key in ("loss_g", "loss_critic", "loss_content", "lr"):
            assert b[step][key] == pytest.approx(a[step][key], rel=1e-5, abs=1e-7), (step, key)
    with pytest.raises(UsageError, match="not 'deblur'"):
        train("deblur", cut, resume=True)
    with pytest.raises(UsageError, match="no config|not a training run"):
        train("magnify", tmp_path / "empty", resume=True)


def test_data_loader_workers_give_the_same_batches(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train("magnify", a, width="tiny", overrides=_overrides(2))
    over = _overrides(2)
    over["train"]["num_workers"] = 1
    train("magnify", b, width="tiny", overrides=over)
    assert _losses(a)[2]["loss_g"] == pytest.approx(_losses(b)[2]["loss_g"], rel=1e-5)


@pytest.mark.slow
def test_torchrun_two_process_gloo(tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "defocus_cli", "train", "magnify", "--out", str(run), "--width", "tiny", "--steps", "2",
           "--workers", "0", "--set", "data.val_samples=2", "--set", "train.log_every=1"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    notes = json.loads((run / "notes.json").read_text())
    assert notes["world_size"] == 2
    assert [r["step"] for r in read_metrics(run) if r["split"] == "train"] == [1, 2]  # rank 0 writes once
