"""Shared ``--model/--device/--threads/--offline`` options and :func:`open_model`.

Usage in a subcommand module::

    @click.command()
    @model_options("deblur")
    def deblur(model, device, threads, offline, ...):
        net = open_model("deblur", model=model, device=device, threads=threads, offline=offline)
        outputs = net.run({net.spec.inputs[0].name: batch})
        report.update(net.info())
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import numpy as np

from defocus_cli.models.registry import ModelSpec, bundled_weights_dir, get_registry
from defocus_cli.models.resolve import ResolvedModel, resolve_model
from defocus_cli.models.session import DEVICES, ModelSession, get_session

F = TypeVar("F", bound=Callable[..., Any])


def _complete_model(task: str) -> Callable[..., list[click.shell_completion.CompletionItem]]:
    def complete(
        ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[click.shell_completion.CompletionItem]:
        names = get_registry().names(task)
        return [click.shell_completion.CompletionItem(n) for n in names if n.startswith(incomplete)]

    return complete


def model_options(task: str) -> Callable[[F], F]:
    """Decorator adding ``--model``, ``--device``, ``--threads`` and ``--offline`` to a command
    for ``task``; the command receives them as ``model``, ``device``, ``threads``, ``offline``."""

    def decorate(command: F) -> F:
        options = [
            click.option(
                "--model",
                "model",
                metavar="NAME|PATH|hf://...",
                default=None,
                shell_complete=_complete_model(task),
                help=(
                    f"Checkpoint for the {task} network: a registered name (`defocus models list`), "
                    "an .onnx file, or hf://owner/repo/file.onnx@REVISION. Default: the bundled one."
                ),
            ),
            click.option(
                "--device",
                type=click.Choice(DEVICES),
                default="auto",
                show_default=True,
                help="Where the network runs; an unavailable `cuda` is an error (exit 4).",
            ),
            click.option(
                "--threads",
                type=click.IntRange(min=1),
                default=None,
                help="CPU threads for the network (default: ONNX Runtime's choice).",
            ),
            click.option(
                "--offline",
                is_flag=True,
                default=False,
                help="Never download; use bundled or cached weights only (also HF_HUB_OFFLINE=1).",
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@dataclass
class LoadedModel:
    """A resolved, verified checkpoint with its session; what a pipeline calls."""

    resolved: ResolvedModel
    session: ModelSession

    @property
    def spec(self) -> ModelSpec:
        return self.resolved.spec

    @property
    def sha256(self) -> str:
        return self.resolved.sha256

    @property
    def path(self) -> Path:
        return self.resolved.path

    @property
    def provider(self) -> str:
        """The execution provider really used (checked with ``session.get_providers()``)."""
        return self.session.provider

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the network on named input arrays; returns every output by name."""
        return self.session.run(inputs)

    def run_image(self, image: np.ndarray, **options: Any) -> np.ndarray:
        """Encode, pad, tile, run and decode an HxW[xC] [0,1] sRGB image; see
        :meth:`~defocus_cli.models.session.ModelSession.run_image` for the options."""
        return self.session.run_image(image, **options)

    def info(self) -> dict[str, str]:
        """The fields a JSON report carries: model name, sha256 and provider."""
        return {"model": self.spec.name, "sha256": self.sha256, "provider": self.provider}


def open_model(
    task: str,
    model: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    offline: bool = False,
    *,
    progress: bool | None = None,
) -> LoadedModel:
    """Resolve ``model`` for ``task`` (see :func:`~defocus_cli.models.resolve.resolve_model`)
    and open its cached session. Raises WeightsError (exit 3) or DeviceError (exit 4).

    ``progress`` shows a download bar on stderr; by default only when stderr is a terminal.
    """
    key = (str(bundled_weights_dir()), task, model, device, threads, offline, _file_signature(model))
    if key not in _OPENED:
        if progress is None:
            progress = sys.stderr.isatty()
        resolved = resolve_model(model, task, offline, progress=progress)
        _OPENED[key] = LoadedModel(resolved, get_session(resolved, device=device, threads=threads))
    return _OPENED[key]


def _file_signature(model: str | None) -> tuple[int, ...]:
    """Size and mtime of a model given as a file and of its exported spec beside it, so an
    in-process cache never serves a file that has since been replaced."""
    if model is None:
        return ()
    path = Path(model).expanduser()
    signature: list[int] = []
    for candidate in (path, path.with_suffix(".spec.json")):
        try:
            info = candidate.stat()
        except (OSError, ValueError):
            continue
        signature += [info.st_size, info.st_mtime_ns]
    return tuple(signature)


# A batch opens the same model for every input: resolve and hash the file once per process.
_OPENED: dict[tuple[str, str, str | None, str, int | None, bool, tuple[int, ...]], LoadedModel] = {}
