"""The batch runner every image and map subcommand shares.

A subcommand parses its own options, then hands the runner a *process* function that maps
one loaded photo to a result; the runner does everything else: input discovery (files,
folders, stdin, ``--shard``), output naming, format choice, overwrite rules, atomic writes,
stdout piping, notes, progress, ``--json`` lines, the failure summary and the exit code.

Shape of a subcommand::

    @click.command("shallow-dof")
    @image_job_options
    @click.option("--blur-radius", default="2%")
    def shallow_dof(job: JobOptions, blur_radius: str) -> None:
        def setup() -> Prepared:
            session = open_model(...)              # once per job; its DefocusError exits with
                                                   # its own code (3 weights, 4 device)
            def process(image: LoadedImage) -> JobResult:
                pixels = render(image.rgb, ...)    # float32 HxWx3 sRGB in [0, 1]
                return JobResult(pixels, info={"focus_depth": 0.42})
            return Prepared(process, info={"model": session.name, "model_sha256": session.sha256,
                                           "provider": session.provider})
        run_image_job("shallow_dof", job, setup=setup)

``process`` may also be passed directly (``run_image_job(name, job, process)``) when there is
nothing to prepare. Map commands use :func:`run_map_job` with a ``kind`` ('defocus' or
'depth') and a process returning :class:`MapResult` (float32 HxW in the kind's units).

Errors: an :class:`~defocus_cli.errors.InputError` raised while handling one input fails that
input only; the batch goes on, names each failure at the end and exits 1. Any other
:class:`~defocus_cli.errors.DefocusError` (weights, device, usage) stops the batch with its
own exit code. Usage problems are detected before ``setup`` runs, so a bad command line never
pays for loading a model. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from defocus_cli.cli.options import JobOptions
from defocus_cli.cli.reporting import Outcome, Reporter
from defocus_cli.errors import InputError, UsageError
from defocus_cli.io.atomic import atomic_write_bytes
from defocus_cli.io.image import (
    ALPHA_FORMATS,
    EXTENSIONS,
    SIXTEEN_BIT_FORMATS,
    SUFFIX_FORMATS,
    LoadedImage,
    encode_image,
    load_image,
)
from defocus_cli.io.maps import MAP_EXTENSIONS, UNIT_LABELS, colorize_map, encode_map
from defocus_cli.io.paths import (
    STDIN,
    InputItem,
    discover_inputs,
    looks_like_template,
    output_is_folder,
    output_path,
)


@dataclass
class JobResult:
    """What an image command's process returns for one photo.

    Attributes:
        pixels: float32 HxWx3, sRGB-encoded, in [0, 1] (values outside are clipped on save).
        info: extra fields for the ``--json`` line (e.g. ``{"focus_depth": 0.42}``).
    """

    pixels: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class MapResult:
    """What a map command's process returns for one photo.

    Attributes:
        values: float32 HxW in the kind's units (defocus: CoC radius in px; depth:
            normalized inverse depth in [0, 1]).
        info: extra fields for the ``--json`` line.
    """

    values: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """What a ``setup`` returns: the per-photo process and fields for every JSON line.

    ``info`` usually holds ``model``, ``model_sha256`` and ``provider`` (the execution
    provider the session really uses).
    """

    process: Callable[[LoadedImage], Any]
    info: dict[str, Any] = field(default_factory=dict)


ProcessFn = Callable[[LoadedImage], Any]
SetupFn = Callable[[], "Prepared | ProcessFn"]


def run_image_job(command: str, job: JobOptions, process: Callable[[LoadedImage], JobResult] | None = None, *,
                  setup: SetupFn | None = None, written: dict[str, str] | None = None) -> None:
    """Run ``process`` over every input of ``job`` and write photos; exits 1 if any failed.

    Args:
        command: the name used in default output names (``photo_<command>.jpg``).
        job: the parsed shared options.
        process: photo -> :class:`JobResult`; or give ``setup`` instead.
        setup: called once, after the command line is validated and before the first
            input, returning a :class:`Prepared` (or a bare process function).
        written: the batch's record of its outputs (absolute path -> input), to share with
            a second output that ``process`` writes (``ExtraOutput.written``): each input's
            output is entered before ``process`` runs, so the second output cannot take
            its name.
    """
    _Batch(command, job, maps=False, kind=None, written=written).run(process, setup)


def run_map_job(command: str, job: JobOptions, kind: str, process: Callable[[LoadedImage], MapResult] | None = None,
                *, setup: SetupFn | None = None) -> None:
    """Like :func:`run_image_job` for map outputs; ``kind`` is 'defocus' or 'depth'.

    Maps are written by :func:`defocus_cli.io.maps.encode_map` (``--format png|npy|tiff``),
    or as a colour preview with a legend with ``--colorize`` (PNG, or TIFF if asked).
    """
    if kind not in UNIT_LABELS:
        raise ValueError(f"kind must be one of {tuple(UNIT_LABELS)}, got {kind!r}")
    _Batch(command, job, maps=True, kind=kind).run(process, setup)


def _binary(stream: Any) -> Any:
    # sys.stdout/stdin at call time (tests and wrappers replace them), as bytes.
    return getattr(stream, "buffer", stream)


def _stdout_is_terminal() -> bool:
    try:
        return bool(sys.stdout.isatty())
    except (AttributeError, ValueError):
        return False


def _stdin_is_piped() -> bool:
    try:
        return sys.stdin is not None and not sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (a cluster scheduler's time limit, ``kill``) like Ctrl-C during a batch,
    so the write in progress is cleaned up and the exit code is 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Batch:
    def __init__(self, command: str, job: JobOptions, maps: bool, kind: str | None,
                 written: dict[str, str] | None = None) -> None:
        self.command = command
        self.job = job
        self.maps = maps
        self.kind = kind
        self.written: dict[str, str] = {} if written is None else written
        self.folder = False  # whether -o names a folder; set by _validate

    # ------------------------------------------------------------------ validation
    def _validate(self) -> tuple[list[InputItem], bool]:
        job = self.job
        if job.overwrite and job.skip_existing:
            raise UsageError("--overwrite and --skip-existing contradict each other; pick one")
        arguments = job.inputs
        if not arguments:
            if not _stdin_is_piped():
                raise UsageError("no input: give photos or folders, or pipe a photo into stdin")
            arguments = (STDIN,)
        if job.shard is not None:
            everything = discover_inputs(arguments, job.recursive, self.command)
        items = discover_inputs(arguments, job.recursive, self.command, job.shard)
        if not (everything if job.shard is not None else items):
            where = ", ".join(arguments)
            hint = "" if job.recursive else " (pass --recursive to search sub-folders)"
            raise InputError(f"no photos (JPEG, PNG, TIFF, WebP) found in {where}{hint}")
        folder = output_is_folder(job.output, items, arguments) if job.output else False
        self.folder = folder
        # After the folder test: the format may come from -o's suffix (-o map.npy).
        if self.maps and job.colorize and self._map_format()[0] == "npy":
            raise UsageError("--colorize writes an image; use --format png or tiff with it")
        self._check_output_suffix()
        to_stdout = job.output == STDIN or (job.output is None and any(item.is_stdin for item in items))
        if job.output == STDIN:
            if len(items) > 1:
                raise UsageError("-o - writes one result to stdout, but there are several inputs")
            if not self.maps and job.format == "auto" and not items[0].is_stdin:
                raise UsageError("-o - needs an explicit --format (jpg, png, tiff or webp)")
        if to_stdout and job.json:
            raise UsageError("--json writes to stdout, so the result cannot go there too; give -o FILE")
        if to_stdout and _stdout_is_terminal():
            raise UsageError("refusing to write binary image data to a terminal; redirect stdout or give -o FILE")
        if job.output and looks_like_template(job.output):
            if len(items) > 1 and "{stem}" not in job.output and "{name}" not in job.output:
                raise UsageError(f"-o template {job.output!r} gives every input the same name; include {{stem}}")
            # A bad placeholder is a usage error now, before any model loads or input is read.
            output_path(items[0], job.output, self.command, "png", folder)
        return items, folder

    # ------------------------------------------------------------------ formats
    def _image_format(self, item: InputItem, image: LoadedImage) -> tuple[str, str]:
        """Output format and extension for one photo."""
        job = self.job
        if job.format != "auto":
            return job.format, EXTENSIONS[job.format]
        hinted = self._suffix_hint()
        if hinted is not None and hinted in EXTENSIONS:
            return hinted, EXTENSIONS[hinted]
        fmt = image.format
        # auto keeps the input's format unless it cannot hold what the photo has.
        if image.alpha is not None and fmt not in ALPHA_FORMATS or image.bit_depth == 16 and fmt not in SIXTEEN_BIT_FORMATS:
            fmt = "png"
        if item.path is not None and SUFFIX_FORMATS.get(item.path.suffix.lower().lstrip(".")) == fmt:
            return fmt, item.path.suffix.lstrip(".")  # keep the user's spelling (.JPG, .jpeg, .tiff)
        return fmt, EXTENSIONS[fmt]

    def _map_format(self) -> tuple[str, str]:
        job = self.job
        fmt = job.format
        if fmt == "auto":
            hinted = self._suffix_hint()
            fmt = hinted if hinted in MAP_EXTENSIONS else "png"
        return fmt, MAP_EXTENSIONS[fmt]

    def _check_output_suffix(self) -> None:
        """Under --format auto, -o FILE's suffix picks the format: one that names no format this
        job writes (out.gif, map.jpg) is a usage error rather than the wrong data under that name.
        A name without a suffix keeps the input's format (-o /dev/stdout)."""
        output = self.job.output
        if self.job.format != "auto" or not output or output == STDIN or self.folder:
            return
        suffix = Path(output).suffix
        if not suffix or "{" in suffix:
            return
        hinted = self._suffix_hint()
        if hinted in (MAP_EXTENSIONS if self.maps else EXTENSIONS):
            return
        names = ".png, .npy or .tif" if self.maps else ".jpg, .png, .tif or .webp"
        raise UsageError(f"-o {output}: {self.command} does not write {suffix} files; name a {names} file, "
                         "or give --format")

    def _suffix_hint(self) -> str | None:
        """The format named by -o's suffix (a file or a template with a literal extension)."""
        output = self.job.output
        if not output or output == STDIN or self.folder:
            return None
        suffix = Path(output).suffix.lower().lstrip(".")
        if "{" in suffix:
            return None
        return "npy" if suffix == "npy" else SUFFIX_FORMATS.get(suffix)

    # ------------------------------------------------------------------ destinations
    def _check_destination(self, destination: str, item: InputItem) -> bool:
        """Return False to skip; raise InputError when the output may not be written."""
        if destination == STDIN:
            return True
        return check_destination(destination, item.path, self.job, self.written, who=item.display, what="output",
                                 itself_hint="; choose another -o",
                                 apart_hint="use -o with {subdir} or {name} to keep names apart")

    def _write(self, destination: str, data: bytes, item: InputItem) -> None:
        if destination == STDIN:
            stream = _binary(sys.stdout)
            stream.write(data)
            stream.flush()
            return
        atomic_write_bytes(destination, data)
        self.written[os.path.abspath(destination)] = item.display

    # ------------------------------------------------------------------ one input
    def _one(self, item: InputItem, process: ProcessFn, common_info: dict[str, Any], folder: bool,
             reporter: Reporter) -> Outcome:
        job = self.job
        started = time.perf_counter()
        destination: str | None = None
        claimed: str | None = None
        info: dict[str, Any] = dict(common_info)
        try:
            source: bytes | Path = _binary(sys.stdin).read() if item.is_stdin else item.path  # type: ignore[assignment]
            image = load_image(source, max_pixels=job.max_pixels or None, name=item.display)
            notes = list(image.notes)
            if self.maps:
                fmt, extension = self._map_format()
            else:
                fmt, extension = self._image_format(item, image)
            destination = output_path(item, job.output, self.command, extension, folder)
            if not self._check_destination(destination, item):
                return Outcome(item.display, destination, "skipped", seconds=time.perf_counter() - started, info=info)
            if destination != STDIN:
                # Taken before the work, so that a second output written by process (refocus
                # --keep-radiance) is refused this name instead of being replaced by the result.
                claimed = os.path.abspath(destination)
                self.written[claimed] = item.display
            result = process(image)
            if self.maps:
                data = self._encode_map(result, image, fmt)
            else:
                data, save_notes = self._encode_image(result, image, fmt)
                notes += save_notes
            info.update(result.info)
            self._write(destination, data, item)
            for note in notes:
                reporter.note(item.display, note)
            if notes:
                info["notes"] = notes
            return Outcome(item.display, destination, "ok", seconds=time.perf_counter() - started, info=info)
        except InputError as error:
            if claimed is not None:
                self.written.pop(claimed, None)  # nothing was written there
            message = str(error)
            if not message.startswith(item.display):
                message = f"{item.display}: {message}"
            return Outcome(item.display, destination, "failed", error=message,
                           seconds=time.perf_counter() - started, info=info)

    def _encode_image(self, result: Any, image: LoadedImage, fmt: str) -> tuple[bytes, list[str]]:
        if not isinstance(result, JobResult):
            raise TypeError(f"an image command's process must return JobResult, got {type(result).__name__}")
        pixels = np.asarray(result.pixels)
        if pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"JobResult.pixels must be HxWx3, got shape {pixels.shape}")
        return encode_image(image.with_pixels(pixels), fmt, quality=self.job.quality,
                            strip_metadata=self.job.strip_metadata)

    def _encode_map(self, result: Any, image: LoadedImage, fmt: str) -> bytes:
        if not isinstance(result, MapResult):
            raise TypeError(f"a map command's process must return MapResult, got {type(result).__name__}")
        values = np.asarray(result.values, dtype=np.float32)
        assert self.kind is not None
        if not self.job.colorize:
            return encode_map(values, self.kind, fmt)
        preview = colorize_map(values, UNIT_LABELS[self.kind], vmax=1.0 if self.kind == "depth" else None)
        colored = LoadedImage(rgb=preview.astype(np.float32) / 255, format=fmt, source=image.source)
        data, _ = encode_image(colored, "tiff" if fmt == "tiff" else "png", strip_metadata=True)
        return data

    # ------------------------------------------------------------------ the loop
    def run(self, process: ProcessFn | None, setup: SetupFn | None) -> None:
        if (process is None) == (setup is None):
            raise TypeError("give exactly one of process and setup")
        items, folder = self._validate()
        if not items:
            if not self.job.quiet:
                click.echo("defocus: note: this shard has no inputs", err=True)
            return
        common_info: dict[str, Any] = {}
        if setup is not None:
            prepared = setup()
            if isinstance(prepared, Prepared):
                process, common_info = prepared.process, dict(prepared.info)
            else:
                process = prepared
        assert process is not None
        with _terminate_as_interrupt(), Reporter(len(items), json_lines=self.job.json, quiet=self.job.quiet) as reporter:
            for item in items:
                reporter.start(item.display)
                reporter.record(self._one(item, process, common_info, folder, reporter))
            failure = reporter.summary()
        if failure is not None:
            raise InputError(failure)  # main prints it as the last line and exits 1


def check_destination(destination: str, source: Path | None, job: JobOptions, written: dict[str, str], *, who: str,
                      what: str, itself_hint: str = "", apart_hint: str = "") -> bool:
    """Whether ``destination`` may be written for the input ``source`` (shown as ``who``):
    False to skip an existing file (``--skip-existing``); InputError when it is the input
    itself, was already written in this batch (``written``: path -> input), is a folder, or
    exists without ``--overwrite``. ``what`` names the output in messages."""
    target = Path(destination)
    key = os.path.abspath(target)
    if source is not None and (key == os.path.abspath(source) or
                               target.exists() and source.exists() and os.path.samefile(target, source)):
        raise InputError(f"{who}: {what} {destination} is the input itself{itself_hint}")
    if key in written:
        if written[key] == who:
            raise InputError(f"{who}: {what} {destination} is this input's main output too; choose another name")
        raise InputError(f"{who}: {what} {destination} was already written for {written[key]} in this batch; "
                         f"{apart_hint}")
    if target.is_dir():
        raise InputError(f"{who}: {what} {destination} is a folder")
    if target.exists() and not target.is_file():
        # A device or pipe (/dev/null, /dev/stdout): the atomic write's rename would put a
        # regular file in its place.
        raise InputError(f"{who}: {what} {destination} is a device or pipe, not a file; name a file "
                         "(-o - writes to stdout)")
    if target.exists():
        if job.skip_existing:
            return False
        if not job.overwrite:
            raise InputError(f"{who}: {destination} exists; pass --overwrite to replace it or --skip-existing to keep it")
    return True
