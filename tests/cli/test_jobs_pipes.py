"""The job runner in real processes: shell pipes, terminals, and the torch-free import rule."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from defocus_cli.io.image import load_image
from tests.cli.jobs_testcmd import child_argv, child_env, run_subprocess
from tests.conftest import write_photo


def test_pipe_through_stdin_and_stdout(tmp_path: Path) -> None:
    stored = write_photo(tmp_path / "a.png")
    done = run_subprocess(["invert"], stdin=(tmp_path / "a.png").read_bytes(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    result = load_image(done.stdout)
    assert result.format == "png"
    np.testing.assert_allclose(result.rgb, 1 - stored, atol=0.5 / 255)
    # An explicit '-' and another format.
    done = run_subprocess(["invert", "-", "--format", "jpg"], stdin=(tmp_path / "a.png").read_bytes(), cwd=tmp_path)
    assert done.returncode == 0 and load_image(done.stdout).format == "jpeg"
    assert sorted(os.listdir(tmp_path)) == ["a.png"]


def test_bad_stdin_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = run_subprocess(["invert", "-"], stdin=b"\xff\xd8\xff\xe0 truncated jpeg", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == b""
    stderr = done.stderr.decode()
    assert stderr.count("\n") == 1 and stderr.startswith("defocus: error: -:") and "Traceback" not in stderr


def test_binary_output_to_a_terminal_is_refused(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.png")
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(child_argv(["invert", "a.png", "-o", "-", "--format", "png"]),
                              stdout=follower, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              cwd=tmp_path, env=child_env(), timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2 and b"terminal" in done.stderr


# Inference jobs that run without weights; each must finish without importing torch.
TORCH_FREE_JOBS = [
    ["invert", "a.jpg", "--json"],
    ["coc", "a.jpg", "--colorize"],
    ["magnify", "a.jpg", "-m", "2", "--method", "map", "--json"],
]


@pytest.mark.parametrize("args", TORCH_FREE_JOBS, ids=lambda args: args[0])
def test_a_job_never_imports_torch(tmp_path: Path, args: list[str]) -> None:
    write_photo(tmp_path / "a.jpg")
    check = "assert 'torch' not in sys.modules, 'torch was imported'\nprint('torch-free', file=sys.stderr)"
    done = run_subprocess(args, cwd=tmp_path, extra_code=check)
    assert done.returncode == 0, done.stderr.decode()
    assert b"torch-free" in done.stderr
    assert len(list(tmp_path.iterdir())) == 2  # the input and its one output


def test_reader_closing_the_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    """click turns EPIPE into a quiet exit 1; keep it that way."""
    write_photo(tmp_path / "big.png", size=(400, 300))  # noise: well over a pipe buffer as PNG
    process = subprocess.Popen(child_argv(["invert", "big.png", "-o", "-", "--format", "png"]),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=child_env())
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `| head -c 0`
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 1
    assert b"Traceback" not in stderr


def test_no_input_and_a_terminal_on_stdin_is_a_usage_error(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(child_argv(["invert"]), stdin=follower, capture_output=True,
                              cwd=tmp_path, env=child_env(), timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2 and b"no input" in done.stderr


def test_sigterm_stops_a_batch_like_ctrl_c(tmp_path: Path) -> None:
    for index in range(6):
        write_photo(tmp_path / f"{index}.png")
    process = subprocess.Popen(child_argv(["slow", ".", "-o", "out"]), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=tmp_path, env=child_env())
    deadline = time.monotonic() + 60
    while not (tmp_path / "out" / "0.png").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and b"interrupted" in stderr and b"Traceback" not in stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "0.png" in written and len(written) < 6
    assert all(not name.startswith(".") for name in written)  # no temporary file left behind
