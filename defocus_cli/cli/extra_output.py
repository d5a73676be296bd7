"""A second photo written per input (``refocus --keep-radiance``), under the main output's rules.

The value is a file (one input only), a folder (``<stem>_<label>.<ext>`` inside it) or a
template with the placeholders of ``-o`` (``{stem}``, ``{name}``, ``{ext}``, ``{parent}``,
``{command}``). An existing file is replaced only with ``--overwrite`` and kept with
``--skip-existing``; the input itself is never a target, nor is one path written twice in a
batch. Format: the file's suffix, else ``--format``, else ``-o``'s suffix, else the input's
(PNG when it cannot hold alpha or 16 bits); metadata, alpha and bit depth as the main output.
Writes are atomic. Problems with the value are usage errors found before any model loads.

Example::

    extra = ExtraOutput.parse(spec, job, label="radiance", option="--keep-radiance")
    target = extra.destination(image)       # before the work: raises InputError if not allowed
    ...
    extra.write(target, image, pixels)      # None target: an existing file is kept
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from defocus_cli.cli.jobs import check_destination
from defocus_cli.cli.options import JobOptions
from defocus_cli.errors import UsageError
from defocus_cli.io.atomic import atomic_write_bytes
from defocus_cli.io.image import (
    ALPHA_FORMATS,
    EXTENSIONS,
    SIXTEEN_BIT_FORMATS,
    SUFFIX_FORMATS,
    LoadedImage,
    encode_image,
)
from defocus_cli.io.paths import STDIN, InputItem, looks_like_template, output_path


def _suffix_format(path: str) -> tuple[str, str] | None:
    suffix = Path(path).suffix.lstrip(".")
    fmt = SUFFIX_FORMATS.get(suffix.lower())
    return (fmt, suffix) if fmt else None


@dataclass
class ExtraOutput:
    """A parsed second-output value; see the module docstring."""

    spec: str
    job: JobOptions
    label: str
    option: str
    kind: str  # "file" | "folder" | "template"
    written: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str, job: JobOptions, *, label: str, option: str) -> ExtraOutput:
        """Check ``spec`` against the command line; raises UsageError (exit 2)."""
        inputs = job.inputs or (STDIN,)
        batch = len(inputs) > 1 or any(a != STDIN and Path(a).is_dir() for a in inputs)
        if spec == STDIN:
            raise UsageError(f"{option} writes a file; stdout is for the main result")
        if looks_like_template(spec):
            if batch and "{stem}" not in spec and "{name}" not in spec:
                raise UsageError(f"{option} template {spec!r} gives every input the same name; include {{stem}}")
            return cls(spec, job, label, option, "template")
        if Path(spec).is_dir() or spec.endswith(("/", os.sep)):
            return cls(spec, job, label, option, "folder")
        if _suffix_format(spec) is None:
            raise UsageError(f"{option} {spec}: name a .jpg, .png, .tif or .webp file, a folder, or a template")
        if batch:
            raise UsageError(f"{option} {spec} names one file, but the inputs are a batch; give a folder "
                             f"({option} out/) or a template ({option} '{{stem}}_{label}.{{ext}}')")
        if job.output not in (None, STDIN) and os.path.abspath(job.output) == os.path.abspath(spec):
            raise UsageError(f"{option} and -o name the same file {spec}")
        return cls(spec, job, label, option, "file")

    def _format(self, image: LoadedImage) -> tuple[str, str]:
        named = _suffix_format(self.spec) if self.kind != "folder" and "{ext}" not in self.spec else None
        if named:
            return named
        if self.job.format != "auto":
            return self.job.format, EXTENSIONS[self.job.format]
        hinted = _suffix_format(self.job.output) if self.job.output not in (None, STDIN) else None
        if hinted:
            return hinted[0], EXTENSIONS[hinted[0]]
        fmt = image.format
        if image.alpha is not None and fmt not in ALPHA_FORMATS or image.bit_depth == 16 and fmt not in SIXTEEN_BIT_FORMATS:
            fmt = "png"
        return fmt, EXTENSIONS[fmt]

    def destination(self, image: LoadedImage) -> str | None:
        """Where ``image``'s extra output goes, checked before any work; None = keep the
        existing file (``--skip-existing``). Raises InputError when it may not be written."""
        source = None if image.source == STDIN else Path(image.source)
        extension = self._format(image)[1]
        stem = source.stem if source is not None else "stdin"
        if self.kind == "folder":
            target = str(Path(self.spec) / f"{stem}_{self.label}.{extension}")
        elif self.kind == "template":
            item = InputItem(source, Path(source.name if source is not None else "stdin"), image.source)
            target = output_path(item, self.spec, self.label, extension, folder=False)
        else:
            target = self.spec
        writable = check_destination(target, source, self.job, self.written, who=image.source, what=self.option,
                                     apart_hint="use {stem} or {name} to keep names apart")
        return target if writable else None

    def write(self, target: str | None, image: LoadedImage, pixels: np.ndarray) -> list[str]:
        """Encode ``pixels`` like ``image`` and write them to ``target`` atomically; returns
        the encoder's notes. A None target writes nothing."""
        if target is None:
            return []
        data, notes = encode_image(image.with_pixels(pixels), self._format(image)[0], quality=self.job.quality,
                                   strip_metadata=self.job.strip_metadata)
        atomic_write_bytes(target, data)
        self.written[os.path.abspath(target)] = image.source
        return notes
