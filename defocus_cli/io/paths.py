"""Input discovery, sharding and output naming for batch jobs.

Rules (documented in the README):

- Inputs are files, folders (their direct photos; with ``recursive`` every photo below
  them) and ``-`` for stdin. Hidden files are skipped in folders, and so are this command's
  own outputs (``*_<command>.*``), so running a command twice on a folder does not feed it
  its own results.
- Inputs are sorted by path; ``--shard K/N`` then keeps every N-th from the K-th (1-based).
- Output naming (see :func:`output_path`): ``<stem>_<command>.<ext>`` beside the input by
  default; ``-o FILE`` for one input; ``-o DIR`` keeps each photo's sub-path under its input
  folder (prefixed by the folder's name when several folders are given), so names never
  collide; a template with ``{stem}``, ``{ext}``, ``{name}``, ``{command}``, ``{parent}``
  (the input's folder) and ``{subdir}`` (its sub-path under the input folder); ``-`` for
  stdout.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from pathlib import Path

from defocus_cli.errors import UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp")
STDIN = "-"
#: The placeholders of an output template.
TEMPLATE_FIELDS = ("stem", "ext", "name", "command", "parent", "subdir")


@dataclass(frozen=True)
class InputItem:
    """One input of a batch.

    Attributes:
        path: the file, or None for stdin.
        relative: its path below the input folder it was found in (just the file name for
            files given directly); used by ``-o DIR`` and ``{subdir}``.
        display: how messages and JSON name it (the path as given, or '-').
    """

    path: Path | None
    relative: Path
    display: str

    @property
    def is_stdin(self) -> bool:
        return self.path is None


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """Parse ``K/N`` (1 <= K <= N) into ``(K, N)``; None passes through."""
    if text is None:
        return None
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise UsageError(f"--shard must look like K/N (e.g. 2/8), got {text!r}") from None
    if n < 1 or not 1 <= k <= n:
        raise UsageError(f"--shard K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def _is_photo(path: Path, command: str) -> bool:
    return (
        path.suffix.lower() in IMAGE_SUFFIXES
        and not path.name.startswith(".")
        and not path.stem.endswith(f"_{command}")
    )


def discover_inputs(arguments: list[str] | tuple[str, ...], recursive: bool, command: str,
                    shard: tuple[int, int] | None = None) -> list[InputItem]:
    """Expand files/folders/'-' into a sorted, de-duplicated, sharded list of inputs.

    Nonexistent paths are kept (they fail one by one, with a clear message, like any bad
    input). At most one ``-`` is allowed.
    """
    if list(arguments).count(STDIN) > 1:
        raise UsageError("stdin ('-') can be given only once")
    folders = [argument for argument in arguments if argument != STDIN and Path(argument).is_dir()]
    several_folders = len(folders) > 1
    items: dict[str, InputItem] = {}
    for argument in arguments:
        if argument == STDIN:
            items[STDIN] = InputItem(None, Path("stdin"), STDIN)
            continue
        path = Path(argument)
        if path.is_dir():
            found = path.rglob("*") if recursive else path.iterdir()
            prefix = Path(path.resolve().name) if several_folders else Path()
            for file in found:
                if not file.is_file() or not _is_photo(file, command):
                    continue
                relative = file.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue  # hidden folders (.git, .cache, ...)
                items.setdefault(str(file), InputItem(file, prefix / relative, str(file)))
        else:
            items.setdefault(str(path), InputItem(path, Path(path.name), argument))
    ordered = sorted(items.values(), key=lambda item: (item.path is not None, str(item.path or "")))
    if shard is not None:
        k, n = shard
        ordered = ordered[k - 1 :: n]
    return ordered


def looks_like_template(output: str) -> bool:
    return "{" in output and "}" in output


def output_is_folder(output: str, inputs: list[InputItem], arguments: list[str] | tuple[str, ...]) -> bool:
    """Whether ``-o`` names a folder: an existing folder, a trailing slash, or a batch."""
    if output == STDIN or looks_like_template(output):
        return False
    if Path(output).is_dir() or output.endswith(("/", os.sep)):
        return True
    batch = len(inputs) > 1 or any(a != STDIN and Path(a).is_dir() for a in arguments)
    if batch and Path(output).suffix.lower() in IMAGE_SUFFIXES + (".npy",):
        raise UsageError(
            f"-o {output} names one file, but the inputs are a batch; give a folder "
            "(-o out/) or a template (-o '{stem}_edit.{ext}')"
        )
    return batch


def output_path(item: InputItem, output: str | None, command: str, extension: str, folder: bool) -> str:
    """Where ``item``'s result goes: a path string, or '-' for stdout.

    ``extension`` has no dot ('jpg', 'png', ...). ``folder`` is :func:`output_is_folder`'s
    answer for this batch.
    """
    if output is None:
        if item.path is None:
            return STDIN
        return str(item.path.with_name(f"{item.path.stem}_{command}.{extension}"))
    if output == STDIN:
        return STDIN
    stem = item.path.stem if item.path is not None else "stdin"
    if looks_like_template(output):
        hint = ", ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS)
        try:
            # Plain placeholders only: str.format would also follow {stem.upper} or {stem[0]},
            # and pad to {stem:>99999999999} until memory runs out.
            for _, field_name, spec, conversion in string.Formatter().parse(output):
                if field_name is None:
                    continue
                if field_name not in TEMPLATE_FIELDS or spec or conversion:
                    shown = field_name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                    raise UsageError(f"bad -o template {output!r} ({{{shown}}}); use {hint}")
            return output.format(
                stem=stem,
                ext=extension,
                name=item.path.name if item.path is not None else "stdin",
                command=command,
                parent=str(item.path.parent) if item.path is not None else ".",
                subdir=str(item.relative.parent),
            )
        except (KeyError, IndexError, ValueError) as error:
            raise UsageError(f"bad -o template {output!r} ({error}); use {hint}") from None
    if folder:
        return str(Path(output) / item.relative.parent / f"{stem}.{extension}")
    return output
