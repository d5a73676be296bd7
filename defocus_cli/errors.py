"""The errors a user can cause, each with its exit code.

The CLI catches :class:`DefocusError` in one place and prints its message as one line.
Anything else is a bug and keeps its traceback.

Exit codes (documented in the README):

====  ==========================================================
0     ok
1     some inputs failed (a batch finishes the rest, then names each)
2     usage
3     weights unavailable or checksum mismatch
4     device or runtime unavailable
130   interrupted
====  ==========================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INPUT_FAILED = 1
EXIT_USAGE = 2
EXIT_WEIGHTS = 3
EXIT_DEVICE = 4
EXIT_INTERRUPTED = 130


class DefocusError(Exception):
    """A failure the user can act on; ``str(error)`` is the one line they see."""

    exit_code: int = EXIT_INPUT_FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)


class InputError(DefocusError):
    """One input could not be read or processed; a batch goes on with the rest."""

    exit_code = EXIT_INPUT_FAILED


class UsageError(DefocusError):
    """The command line asks for something impossible or contradictory."""

    exit_code = EXIT_USAGE


class WeightsError(DefocusError):
    """A checkpoint is missing, cannot be downloaded, or fails its checksum."""

    exit_code = EXIT_WEIGHTS


class DeviceError(DefocusError):
    """The requested execution device or the inference runtime is unavailable."""

    exit_code = EXIT_DEVICE
