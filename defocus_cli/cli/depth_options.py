"""Network options of the commands that predict depth or render with the learned lens
(``depth``, ``shallow-dof``), and how their models are chosen.

``--depth-model`` defaults to the installed (bundled) depth model; without one the job exits
with code 3 and names ``--depth-model depth-anything-v2-small``, which downloads, so it is
never picked silently. ``--lens-model`` does the same for the ``lens-blur`` task. An
``.onnx`` file fresh from ``defocus export`` runs with the spec written beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from defocus_cli.cli.model_options import LoadedModel, open_model
from defocus_cli.errors import WeightsError
from defocus_cli.models.registry import get_registry
from defocus_cli.models.session import DEVICES

F = TypeVar("F", bound=Callable[..., Any])

EXTERNAL_DEPTH_MODEL = "depth-anything-v2-small"
NO_DEPTH_MODEL = (
    "no depth model is installed; while online, --depth-model "
    f"{EXTERNAL_DEPTH_MODEL} downloads Depth Anything V2 Small (Apache-2.0) from the Hugging Face hub"
)
NO_LENS_MODEL = (
    "--lens learned needs a lens-blur model and none is installed; use --lens classical "
    "(the default) or --lens-model FILE.onnx"
)


def _names(task: str) -> Callable[..., list[click.shell_completion.CompletionItem]]:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[click.shell_completion.CompletionItem]:
        return [click.shell_completion.CompletionItem(n) for n in get_registry().names(task) if n.startswith(incomplete)]

    return complete


def network_options(*, lens: bool = False, model_alias: bool = False) -> Callable[[F], F]:
    """Add ``--depth-model`` (also ``--model`` with ``model_alias``), ``--lens-model`` (with
    ``lens``), ``--device``, ``--threads`` and ``--offline``; the command receives them as
    ``depth_model``, ``lens_model``, ``device``, ``threads``, ``offline``."""
    depth_names = ["--depth-model", "--model"] if model_alias else ["--depth-model"]
    options = [
        click.option(*depth_names, "depth_model", metavar="NAME|PATH|hf://...", default=None,
                     shell_complete=_names("depth"),
                     help="Depth network: a registered name (`defocus models list`), an .onnx file, or "
                          f"hf://owner/repo/file.onnx@COMMIT. Default: the installed one; "
                          f"{EXTERNAL_DEPTH_MODEL} downloads on first use."),
    ]
    if lens:
        options.append(click.option("--lens-model", "lens_model", metavar="NAME|PATH|hf://...", default=None,
                                    shell_complete=_names("lens-blur"),
                                    help="Lens-blur network for --lens learned. Default: the installed one."))
    options += [
        click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                     help="Where the networks run; an unavailable `cuda` is an error (exit 4)."),
        click.option("--threads", type=click.IntRange(min=1), default=None,
                     help="CPU threads for the networks (default: ONNX Runtime's choice)."),
        click.option("--offline", is_flag=True, default=False,
                     help="Never download; use bundled or cached weights only (also HF_HUB_OFFLINE=1)."),
    ]

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def installed_model(task: str) -> str | None:
    """The bundled model for ``task`` (the one marked default first), or None: external
    models are never a silent default, since they download."""
    bundled = [s for s in get_registry().for_task(task) if not s.is_external]
    marked = [s for s in bundled if s.default]
    return (marked or bundled)[0].name if bundled else None


def open_task_model(task: str, name: str | None, device: str, threads: int | None, offline: bool,
                    missing_hint: str) -> LoadedModel:
    """Open ``name`` (or the installed model) for ``task``; no installed model raises
    :class:`WeightsError` (exit 3) with ``missing_hint``."""
    name = name or installed_model(task)
    if name is None:
        raise WeightsError(missing_hint)
    return open_model(task, model=name, device=device, threads=threads, offline=offline)
