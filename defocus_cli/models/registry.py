"""The model registry: one :class:`ModelSpec` per checkpoint, the single source of truth.

Shipped checkpoints are described by ``weights/manifest.json`` (written by ``defocus export``
through :func:`add_manifest_entry`); external models that are downloaded from the Hugging Face
hub on demand are defined in code (:data:`EXTERNAL_SPECS`). ``--model`` choices,
``defocus models list``, the tests and the docs table are all generated from here.

Example::

    >>> from defocus_cli.models.registry import get_registry
    >>> spec = get_registry().get("depth-anything-v2-small")
    >>> spec.stride, spec.preprocessing
    (14, 'imagenet')
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from defocus_cli.errors import UsageError, WeightsError
from defocus_cli.io.atomic import atomic_write_bytes

#: Tasks a checkpoint can serve. Each names the subcommand (or pipeline stage) that runs it.
TASKS: tuple[str, ...] = (
    "magnify",
    "deblur",
    "refocus",
    "defocus-map",
    "depth",
    "lens-blur",
    "upsample",
)

#: How an image in [0,1] sRGB is turned into the network's input (see ``models.preprocess``).
PREPROCESSING: tuple[str, ...] = ("srgb01", "srgb-1to1", "imagenet", "none")

#: Environment variable that points the tool at another weights folder (tests, custom installs).
WEIGHTS_DIR_ENV = "DEFOCUS_WEIGHTS_DIR"
MANIFEST_NAME = "manifest.json"

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class TensorSpec:
    """One network input or output: its name, axis layout and channel count.

    ``layout`` spells the axes, e.g. ``"NCHW"`` (rank 4) or ``"NHW"`` (rank 3); ``channels``
    is the size of the ``C`` axis, or ``None`` when the layout has none or it may vary.
    """

    name: str
    layout: str = "NCHW"
    channels: int | None = 3

    @property
    def rank(self) -> int:
        return len(self.layout)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a tensor needs a name")
        if (
            not self.layout
            or not set(self.layout) <= set("NCHWD")
            or len(set(self.layout)) != len(self.layout)
        ):
            raise ValueError(f"tensor {self.name!r}: bad layout {self.layout!r} (axes from NCHWD)")
        if self.channels is not None and ("C" not in self.layout or self.channels < 1):
            raise ValueError(f"tensor {self.name!r}: channels given without a C axis")


@dataclass(frozen=True)
class ModelSpec:
    """Everything the tool knows about one checkpoint.

    ``file`` is the ONNX file name inside the bundled ``weights/`` folder (``None`` for an
    external model fetched from the hub). ``sha256`` is the lowercase hex digest of that file;
    it may be ``None`` only for an external model whose digest cannot be known offline, which
    then relies on the hub's own integrity check. ``revision`` pins the hub download to a full
    40-hex commit. ``stride`` is the multiple the input sides are padded to; ``working_resolution``
    is the long side (pixels) the network runs at, ``None`` meaning the input's own resolution.
    """

    name: str
    task: str
    version: str = "1"
    file: str | None = None
    sha256: str | None = None
    hub_repo: str | None = None
    hub_filename: str | None = None
    revision: str | None = None
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    preprocessing: str = "srgb01"
    stride: int = 4
    working_resolution: int | None = None
    licence: str = "unknown"
    card: str | None = None
    description: str = ""
    default: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        problems = []
        if not _NAME_RE.match(self.name):
            problems.append("name must be lowercase letters, digits, '.', '_' or '-'")
        if self.task not in TASKS:
            problems.append(f"unknown task {self.task!r} (one of {', '.join(TASKS)})")
        if self.preprocessing not in PREPROCESSING:
            problems.append(f"unknown preprocessing {self.preprocessing!r}")
        if self.sha256 is not None and not _SHA256_RE.match(self.sha256):
            problems.append("sha256 must be 64 lowercase hex digits")
        if self.file is None and self.hub_repo is None:
            problems.append("needs a bundled file or a hub repository")
        if self.file is not None and self.sha256 is None:
            problems.append("a bundled file needs its sha256")
        if self.hub_repo is not None:
            if self.hub_filename is None:
                problems.append("hub_repo needs hub_filename")
            if self.revision is None or not _COMMIT_RE.match(self.revision):
                problems.append("a hub download must be pinned to a full 40-hex commit revision")
        if self.stride < 1:
            problems.append("stride must be >= 1")
        if self.working_resolution is not None and self.working_resolution < 1:
            problems.append("working_resolution must be positive")
        # Lists from JSON become tuples, so a spec stays hashable and truly frozen.
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if problems:
            raise ValueError(f"model spec {self.name!r}: " + "; ".join(problems))

    @property
    def is_external(self) -> bool:
        """True for a model that is not shipped in ``weights/`` and comes from the hub."""
        return self.file is None

    @property
    def integrity(self) -> str:
        """How a downloaded or bundled file is checked: ``"sha256"`` or ``"hub integrity only"``."""
        return "sha256" if self.sha256 else "hub integrity only"


def spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
    """A JSON-ready dict of ``spec`` (the manifest format); inverse of :func:`spec_from_dict`."""
    data = asdict(spec)
    data["inputs"] = [asdict(t) for t in spec.inputs]
    data["outputs"] = [asdict(t) for t in spec.outputs]
    if not data["extra"]:
        del data["extra"]
    return data


def spec_from_dict(data: dict[str, Any]) -> ModelSpec:
    """Build a :class:`ModelSpec` from a manifest entry; unknown keys are an error."""
    known = {f.name for f in fields(ModelSpec)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"model spec {data.get('name')!r}: unknown keys {sorted(unknown)}")
    values = dict(data)
    values["inputs"] = tuple(TensorSpec(**t) for t in data.get("inputs", ()))
    values["outputs"] = tuple(TensorSpec(**t) for t in data.get("outputs", ()))
    return ModelSpec(**values)


class Registry:
    """Named :class:`ModelSpec`s; duplicate names are refused and typos fail loudly."""

    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ModelSpec) -> ModelSpec:
        if spec.name in self._specs:
            raise ValueError(f"model {spec.name!r} is registered twice")
        self._specs[spec.name] = spec
        return spec

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def names(self, task: str | None = None) -> list[str]:
        return [s.name for s in self._specs.values() if task is None or s.task == task]

    def get(self, name: str) -> ModelSpec:
        """The spec called ``name``; an unknown name raises :class:`UsageError` with suggestions."""
        try:
            return self._specs[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._specs), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            known = ", ".join(sorted(self._specs)) or "none"
            raise UsageError(
                f"unknown model {name!r}{hint} (registered: {known}; see `defocus models list`)"
            ) from None

    def for_task(self, task: str) -> list[ModelSpec]:
        return [s for s in self._specs.values() if s.task == task]

    def default_model(self, task: str) -> ModelSpec:
        """The model a job uses without ``--model``: the one marked default, else the first
        bundled one, else the first external one for ``task``."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}")
        candidates = self.for_task(task)
        for pick in (
            [s for s in candidates if s.default],
            [s for s in candidates if not s.is_external],
            candidates,
        ):
            if pick:
                return pick[0]
        raise WeightsError(
            f"no model is registered for the {task!r} task in this installation "
            "(pass --model PATH or hf://owner/repo/file.onnx@REVISION)"
        )


# External models: downloaded from the hub on demand, never shipped. The hub serves these from
# git-LFS/Xet storage, whose content address is the file's sha256; the tool checks a download
# against that address, since the digest itself cannot be written here without the file.
DEPTH_ANYTHING_V2_SMALL = ModelSpec(
    name="depth-anything-v2-small",
    task="depth",
    version="2-small",
    file=None,
    sha256=None,
    hub_repo="onnx-community/depth-anything-v2-small",
    hub_filename="onnx/model.onnx",
    # Head of the repository's main branch ("[Automated] Update base model metadata",
    # 2024-10-08); onnx/model.onnx is unchanged since the "Upload folder" commit f7421df.
    revision="02504fff2a0de682e3162e5e89bdeab034e1b96d",
    inputs=(TensorSpec("pixel_values", "NCHW", 3),),
    outputs=(TensorSpec("predicted_depth", "NHW", None),),
    preprocessing="imagenet",
    stride=14,
    working_resolution=518,
    licence="Apache-2.0",
    card=None,
    description="Depth Anything V2 Small (ONNX export); relative inverse depth, larger = nearer",
)

EXTERNAL_SPECS: tuple[ModelSpec, ...] = (DEPTH_ANYTHING_V2_SMALL,)


def bundled_weights_dir() -> Path:
    """The folder holding the shipped checkpoints and ``manifest.json``.

    ``$DEFOCUS_WEIGHTS_DIR`` wins; otherwise ``defocus_cli/weights`` inside an installed wheel
    (pyproject force-includes the top-level ``weights/`` there), else the top-level ``weights/``
    of a source checkout. Returns the checkout path when neither exists.
    """
    override = os.environ.get(WEIGHTS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    package_dir = Path(__file__).resolve().parent.parent
    installed = package_dir / "weights"
    if (installed / MANIFEST_NAME).is_file():
        return installed
    return package_dir.parent / "weights"


def manifest_path() -> Path:
    return bundled_weights_dir() / MANIFEST_NAME


def read_manifest(path: Path) -> list[ModelSpec]:
    """The specs listed in a manifest file; a missing file is an empty list."""
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(entries, list):
            raise ValueError("the manifest must be a JSON list of model entries")
        return [spec_from_dict(entry) for entry in entries]
    except (ValueError, TypeError) as error:
        raise WeightsError(f"broken weights manifest {path}: {error}") from None


def add_manifest_entry(spec: ModelSpec, path: Path | str | None = None) -> Path:
    """Add ``spec`` to a manifest (default: the bundled one), replacing an entry of the same
    name; a ``spec`` marked default takes that mark from the task's other entries. The file is
    written atomically and kept sorted by name. Returns the manifest path."""
    if spec.is_external:
        raise ValueError("only bundled checkpoints belong in the weights manifest")
    target = Path(path) if path is not None else manifest_path()
    specs = {s.name: s for s in read_manifest(target)}
    if spec.default:
        specs = {n: replace(s, default=False) if s.task == spec.task else s for n, s in specs.items()}
    specs[spec.name] = spec
    text = json.dumps([spec_to_dict(specs[n]) for n in sorted(specs)], indent=2) + "\n"
    atomic_write_bytes(target, text.encode("utf-8"))  # readable by all, like any shipped file
    _REGISTRY.pop(target, None)  # the next get_registry() sees the new entry
    return target


def load_registry(manifest: Path | str | None = None, *, external: bool = True) -> Registry:
    """A fresh registry from a manifest (default: the bundled one) plus the external entries."""
    registry = Registry(read_manifest(Path(manifest) if manifest is not None else manifest_path()))
    if external:
        for spec in EXTERNAL_SPECS:
            registry.register(spec)
    return registry


_REGISTRY: dict[Path, Registry] = {}


def get_registry() -> Registry:
    """The process-wide registry for the current weights folder (built once per folder)."""
    path = manifest_path()
    if path not in _REGISTRY:
        _REGISTRY[path] = load_registry(path)
    return _REGISTRY[path]


def default_model(task: str) -> ModelSpec:
    """The default model for ``task`` in the process-wide registry."""
    return get_registry().default_model(task)
