"""Entry point: the ``defocus`` command group and the one place user errors become exit codes.

Subcommands are imported lazily, so ``defocus magnify`` never pays for (or needs) the
training stack, and torch is imported only by ``train``, ``export`` and ``eval``.
"""

from __future__ import annotations

import importlib
import sys

import click

from defocus_cli import __version__
from defocus_cli.errors import EXIT_INTERRUPTED, DefocusError

# name -> "module:attribute". A subcommand is listed here only once it really works.
SUBCOMMANDS: dict[str, str] = {
    "shallow-dof": "defocus_cli.cli.shallow_dof:shallow_dof",
    "magnify": "defocus_cli.cli.magnify:magnify",
    "defocus-map": "defocus_cli.cli.defocus_map:defocus_map",
    "deblur": "defocus_cli.cli.deblur:deblur",
    "refocus": "defocus_cli.cli.refocus:refocus",
    "depth": "defocus_cli.cli.depth:depth",
    "models": "defocus_cli.cli.models_cmd:models",
    "data": "defocus_cli.cli.data_cmd:data",
    "train": "defocus_cli.cli.train:train",
    "export": "defocus_cli.cli.export:export",
    "eval": "defocus_cli.cli.eval:eval_cmd",
}


#: What a group given no arguments raises to show its help (click >= 8.2; older ones exit 0).
_HELP_FOR_NO_ARGUMENTS: tuple[type[click.ClickException], ...] = tuple(
    getattr(click.exceptions, name) for name in ("NoArgsIsHelpError",) if hasattr(click.exceptions, name))


class LazyGroup(click.Group):
    """A group that imports each subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        return getattr(importlib.import_module(module_name), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="defocus")
def cli() -> None:
    """Depth-of-field editing for photographs: magnify background blur, refocus, deblur,
    estimate defocus and depth maps, and render a shallow depth of field."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors print one line and exit with their code, bugs keep tracebacks."""
    try:
        # Without standalone mode, click returns ctx.exit()'s code instead of exiting.
        code = cli.main(args=argv, prog_name="defocus", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("defocus: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("defocus: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as usage:
        if isinstance(usage, _HELP_FOR_NO_ARGUMENTS):
            usage.show()  # `defocus` or `defocus models` alone: the help text is the answer
        else:
            # One line like every other user error (click's own layout adds usage and hint lines).
            click.echo(f"defocus: error: {usage.format_message()}", err=True)
        sys.exit(usage.exit_code)
    except DefocusError as error:
        click.echo(f"defocus: error: {error}", err=True)
        sys.exit(error.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
