"""Atomic file writes: a temporary file in the target folder, then ``os.replace``.

A crash or Ctrl-C mid-write never leaves a partial output: either the old file (or none)
is there, or the complete new one. Temporary files are hidden (``.name.*.part``) so folder
discovery never picks them up.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from defocus_cli.errors import InputError


def _umask() -> int:
    # os.umask can only be read by setting it; restore it at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(destination: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``destination`` atomically, creating parent folders; return the path.

    The file gets the permissions a plain ``open(..., "wb")`` would give (0666 & ~umask),
    not mkstemp's 0600.

    >>> atomic_write_bytes(tmp_path / "a.bin", b"xyz")  # doctest: +SKIP
    """
    target = Path(destination)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as error:
        raise InputError(f"cannot write {target}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, 0o666 & ~_umask())
        os.replace(temp_name, target)
    except BaseException as error:
        # BaseException: KeyboardInterrupt must clean up too, then keep propagating.
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(error, OSError):
            raise InputError(f"cannot write {target}: {error.strerror or error}") from None
        raise
    return target
