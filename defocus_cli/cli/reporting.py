"""What a batch tells the user: notes and progress on stderr, JSON lines on stdout.

stdout carries only data (an image with ``-o -``, or JSON lines with ``--json``), so
pipelines stay clean. The rich progress bar appears only when stderr is a terminal.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import click

#: Keys every JSON line has, in this order (null when not applicable).
JSON_KEYS = ("input", "output", "status", "error", "model", "model_sha256", "provider", "seconds")


@dataclass
class Outcome:
    """The result of one input: status 'ok' | 'failed' | 'skipped'."""

    input: str
    output: str | None
    status: str
    error: str | None = None
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {key: None for key in JSON_KEYS}
        line.update(input=self.input, output=self.output, status=self.status, error=self.error,
                    seconds=round(self.seconds, 4))
        for key, value in self.info.items():
            if key not in ("input", "output", "status", "error", "seconds"):
                line[key] = value
        return line


class Reporter:
    """Collects outcomes; prints notes, progress, JSON lines and the final summary."""

    def __init__(self, total: int, json_lines: bool, quiet: bool, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        self.total = total
        self.json_lines = json_lines
        self.quiet = quiet
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.outcomes: list[Outcome] = []
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Reporter:
        if not self.quiet and self.total > 0 and _isatty(self.stderr):
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=Console(file=self.stderr), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("defocus", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _echo(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            click.echo(message, file=self.stderr)

    def start(self, display: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=display[-40:])

    def note(self, display: str, message: str) -> None:
        """A conversion or choice the user should know about (suppressed by --quiet)."""
        if not self.quiet:
            self._echo(f"defocus: note: {display}: {message}")

    def record(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self.json_lines:
            self.stdout.write(json.dumps(outcome.as_json()) + "\n")
            self.stdout.flush()
        if self._progress is not None:
            self._progress.advance(self._task)

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]

    def summary(self) -> str | None:
        """Count skips (unless quiet) and list each failure, after the batch.

        Returns the one-line error the caller raises (so the exit code is 1), or None when
        nothing failed. A single failure is returned as is; a batch's failures are listed
        here and summarised in the returned line.
        """
        self.__exit__()
        skipped = [outcome for outcome in self.outcomes if outcome.status == "skipped"]
        if skipped and not self.quiet:
            click.echo(f"defocus: skipped {len(skipped)} input(s) whose output exists (--skip-existing)", file=self.stderr)
        failures = self.failures
        if not failures:
            return None
        if len(self.outcomes) == 1:
            return failures[0].error
        click.echo("defocus: failed inputs:", file=self.stderr)
        for outcome in failures:
            click.echo(f"  {outcome.error}", file=self.stderr)
        return f"{len(failures)} of {len(self.outcomes)} inputs failed"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
