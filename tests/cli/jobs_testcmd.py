"""Test-only subcommands built on the real job machinery, and helpers to run the CLI.

``invert`` (an image job: 1 - rgb), ``coc`` (a defocus-map job: 8 px x luminance), and
commands whose setup or process fails in chosen ways. They are registered into the real
LazyGroup for the duration of a test, so every test goes through ``main()`` exactly as a
user's command does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np
from click.testing import CliRunner

from defocus_cli.cli import main as main_module
from defocus_cli.cli.jobs import JobResult, MapResult, Prepared, run_image_job, run_map_job
from defocus_cli.cli.options import JobOptions, image_job_options, map_job_options
from defocus_cli.errors import DeviceError, InputError, WeightsError
from defocus_cli.io.image import LoadedImage

REPO = Path(__file__).resolve().parents[2]


@click.command("invert")
@image_job_options
@click.option("--fail-on", default=None, help="Raise InputError for inputs whose name contains this.")
def invert(job: JobOptions, fail_on: str | None) -> None:
    """1 - rgb: an image job whose output differs from its input."""

    def setup() -> Prepared:
        def process(image: LoadedImage) -> JobResult:
            if fail_on and fail_on in image.source:
                raise InputError("refused by --fail-on")
            return JobResult(1.0 - image.rgb, info={"mean": float(image.rgb.mean())})

        return Prepared(process, info={"model": "invert-test", "model_sha256": "0" * 64, "provider": "CPUExecutionProvider"})

    run_image_job("invert", job, setup=setup)


@click.command("coc")
@map_job_options
def coc(job: JobOptions) -> None:
    """A defocus map: 8 px times the mean of the channels."""
    run_map_job("coc", job, "defocus", lambda image: MapResult(8.0 * image.rgb.mean(axis=2)))


@click.command("needs-weights")
@image_job_options
def needs_weights(job: JobOptions) -> None:
    """A job whose setup fails like a missing checkpoint."""

    def setup() -> Prepared:
        raise WeightsError("weights for 'test-model' are not available offline; run defocus models fetch test-model")

    run_image_job("needs_weights", job, setup=setup)


@click.command("interrupt")
@image_job_options
def interrupt(job: JobOptions) -> None:
    """Ctrl-C on the second input."""
    seen: list[str] = []

    def process(image: LoadedImage) -> JobResult:
        seen.append(image.source)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return JobResult(image.rgb)

    run_image_job("interrupt", job, process)


@click.command("lose-device")
@image_job_options
def lose_device(job: JobOptions) -> None:
    """The device fails while processing the second input: the batch stops with code 4."""
    seen: list[str] = []

    def process(image: LoadedImage) -> JobResult:
        seen.append(image.source)
        if len(seen) == 2:
            raise DeviceError("CUDA device lost")
        return JobResult(image.rgb)

    run_image_job("lose_device", job, process)


@click.command("slow")
@image_job_options
def slow(job: JobOptions) -> None:
    """Half a second per photo, to be stopped from outside."""

    def process(image: LoadedImage) -> JobResult:
        time.sleep(0.5)
        return JobResult(image.rgb)

    run_image_job("slow", job, process)


# By this module's own name, so the lazy group finds it however the tests import it.
TEST_COMMANDS = {
    "invert": f"{__name__}:invert",
    "coc": f"{__name__}:coc",
    "needs-weights": f"{__name__}:needs_weights",
    "interrupt": f"{__name__}:interrupt",
    "lose-device": f"{__name__}:lose_device",
    "slow": f"{__name__}:slow",
}


def register() -> None:
    """Add the test commands to the real group (used by subprocesses)."""
    main_module.SUBCOMMANDS.update(TEST_COMMANDS)


def run_cli(args: list[str], stdin: bytes | None = None, cwd: Path | None = None) -> tuple[int, bytes, str]:
    """Run ``defocus ARGS`` in-process through ``main()``; return (exit code, stdout, stderr)."""
    runner = CliRunner()
    saved = dict(main_module.SUBCOMMANDS)
    main_module.SUBCOMMANDS.update(TEST_COMMANDS)
    previous_cwd = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with runner.isolation(input=stdin if stdin is not None else b"") as (out, err, _):
            try:
                main_module.main(args)
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            return code, out.getvalue(), err.getvalue().decode("utf-8", "replace")
    finally:
        os.chdir(previous_cwd)
        main_module.SUBCOMMANDS.clear()
        main_module.SUBCOMMANDS.update(saved)


#: A fresh interpreter running ``defocus`` with the test commands registered.
CHILD_CODE = (
    "import sys\nfrom tests.cli import jobs_testcmd\njobs_testcmd.register()\n"
    "from defocus_cli.cli.main import main\nmain(sys.argv[1:])"
)


def child_argv(args: list[str]) -> list[str]:
    """argv for ``defocus ARGS`` in a child process (use with :func:`child_env`)."""
    return [sys.executable, "-c", CHILD_CODE, *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def run_subprocess(args: list[str], stdin: bytes | None = None, cwd: Path | None = None,
                   extra_code: str = "") -> subprocess.CompletedProcess[bytes]:
    """Run ``defocus ARGS`` in a fresh interpreter (run from ``cwd``) with the test commands.

    ``extra_code`` runs after the command (the exit is caught first), e.g. to inspect
    ``sys.modules``.
    """
    code = (
        "import sys\nfrom tests.cli import jobs_testcmd\njobs_testcmd.register()\n"
        "from defocus_cli.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as done:\n    status = done.code\n"
        f"{extra_code}\n"
        "sys.exit(status)\n"
    )
    return subprocess.run([sys.executable, "-c", code, *args], input=stdin if stdin is not None else b"",
                          capture_output=True, cwd=cwd, env=child_env(), timeout=120)


def as_uint8(values: np.ndarray) -> np.ndarray:
    return (np.clip(values, 0, 1) * 255 + 0.5).astype(np.uint8)
