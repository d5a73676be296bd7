"""Find the ONNX file behind ``--model``: an explicit path, the bundled ``weights/``, the
huggingface_hub cache, or a revision-pinned download, each checked against its sha256.

Example::

    resolved = resolve_model("depth-anything-v2-small", task="depth", offline=True)
    ... # WeightsError (exit 3) with a `defocus models fetch` hint when it is not cached yet
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from defocus_cli.errors import UsageError, WeightsError
from defocus_cli.models.registry import (
    ModelSpec,
    Registry,
    bundled_weights_dir,
    get_registry,
    spec_from_dict,
)

HF_SCHEME = "hf://"
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class ResolvedModel:
    """A checkpoint on local disk, ready for a session.

    ``source`` is ``"path"``, ``"bundled"``, ``"cache"`` or ``"download"``; ``verified`` says
    how its bytes were checked: ``"sha256"`` (against the spec), ``"hub"`` (against the hub's
    content address), or ``"none"`` (a user-given file, reported by digest only).
    """

    path: Path
    spec: ModelSpec
    sha256: str
    source: str
    verified: str


@dataclass(frozen=True)
class HubURI:
    """``hf://owner/repo/path/file.onnx[@revision]`` split into its parts."""

    repo: str
    filename: str
    revision: str | None

    def __str__(self) -> str:
        at = f"@{self.revision}" if self.revision else ""
        return f"{HF_SCHEME}{self.repo}/{self.filename}{at}"


def parse_hf_uri(uri: str) -> HubURI:
    """Parse ``hf://owner/repo/path/file.onnx[@revision]``; a malformed URI is a usage error."""
    if not uri.startswith(HF_SCHEME):
        raise UsageError(f"not an hf:// URI: {uri!r}")
    body = uri[len(HF_SCHEME) :]
    revision = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
        if not revision:
            raise UsageError(f"empty revision in {uri!r}")
    parts = [p for p in body.split("/") if p]
    if len(parts) < 3 or any(p in (".", "..") for p in parts):
        raise UsageError(f"expected hf://owner/repo/path/file.onnx[@revision], got {uri!r}")
    return HubURI(repo="/".join(parts[:2]), filename="/".join(parts[2:]), revision=revision)


def sha256_file(path: Path | str, chunk_bytes: int = 1 << 20) -> str:
    """Lowercase hex sha256 of a file, read in 1 MiB chunks so memory stays flat."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def is_offline(offline: bool = False) -> bool:
    """True when ``--offline`` was given or ``HF_HUB_OFFLINE`` is set (read at call time)."""
    return offline or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def fetch_hint(name: str) -> str:
    return f"run `defocus models fetch {name}` while online, or pass --model PATH"


def _looks_like_path(value: str) -> bool:
    return (
        value.endswith(".onnx")
        or os.sep in value
        or (os.altsep is not None and os.altsep in value)
        or Path(value).exists()
    )


def _adhoc_spec(name: str, task: str, registry: Registry, **hub: str | None) -> ModelSpec:
    """A spec for a user-given file: the I/O contract of the task's default model when one
    exists (a retrained checkpoint of the same network), else no contract at all."""
    try:
        template = registry.default_model(task)
    except WeightsError:
        template = None
    safe = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "model"
    if template is None:
        return ModelSpec(
            name=safe,
            task=task,
            file=hub.get("file"),
            sha256=hub.get("sha256"),
            hub_repo=hub.get("hub_repo"),
            hub_filename=hub.get("hub_filename"),
            revision=hub.get("revision"),
            licence="see the model's own card",
            stride=1,
        )
    return replace(
        template,
        name=safe,
        file=hub.get("file"),
        sha256=hub.get("sha256"),
        hub_repo=hub.get("hub_repo"),
        hub_filename=hub.get("hub_filename"),
        revision=hub.get("revision"),
        licence="see the model's own card",
        card=None,
        default=False,
    )


def _exported_spec(path: Path, task: str) -> ModelSpec | None:
    """The ModelSpec ``defocus export`` wrote beside an ``.onnx`` file (``<stem>.spec.json``),
    so a fresh export runs with its own I/O names, stride and extras before it is installed."""
    sidecar = path.with_suffix(".spec.json")
    if path.suffix.lower() != ".onnx" or not sidecar.is_file():
        return None
    try:
        spec = spec_from_dict(json.loads(sidecar.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as error:
        raise WeightsError(f"{sidecar}: not a model spec ({error})") from None
    if spec.task != task:
        raise UsageError(f"{path.name} is a {spec.task!r} model (per {sidecar.name}), not {task!r}")
    return spec


def _discard_cached(path: Path) -> None:
    """Remove a cached file that failed its check, blob included, so it never looks valid."""
    blob = path.resolve()
    for victim in {path, blob}:
        try:
            victim.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            # Last resort on filesystems that refuse the unlink: make the name unusable.
            victim.rename(victim.with_name(victim.name + ".corrupt"))


def verify_file(path: Path, spec: ModelSpec, *, discard_on_mismatch: bool) -> tuple[str, str]:
    """Hash ``path`` and check it against ``spec.sha256`` or, for a hub download without a
    known digest, against the hub's content address (the LFS blob name is the file's sha256).

    Returns ``(sha256, verified)``; a mismatch raises :class:`WeightsError` after, when
    ``discard_on_mismatch``, deleting the cached copy.
    """
    actual = sha256_file(path)
    expected = spec.sha256
    verified = "sha256"
    if expected is None:
        blob_name = path.resolve().name
        expected = blob_name if _SHA256_RE.match(blob_name) else None
        verified = "hub" if expected else "none"
    if expected is not None and actual != expected:
        if discard_on_mismatch:
            _discard_cached(path)
        where = "deleted the cached copy; fetch it again" if discard_on_mismatch else "reinstall"
        raise WeightsError(
            f"checksum mismatch for model {spec.name!r} ({path.name}): expected sha256 "
            f"{expected[:12]}…, got {actual[:12]}… ({where})"
        )
    return actual, verified


def _hub_cached(repo: str, filename: str, revision: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, revision=revision)
    # A str is a cached file; the sentinel object means "known not to exist", None a miss.
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def hub_download(spec: ModelSpec, *, progress: bool = True) -> Path:
    """Download ``spec``'s file at its pinned revision into the huggingface_hub cache."""
    import huggingface_hub
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    assert spec.hub_repo and spec.hub_filename and spec.revision
    was_disabled = are_progress_bars_disabled()
    if not progress:
        disable_progress_bars()
    hub_logger = logging.getLogger("huggingface_hub")
    hub_level = hub_logger.level
    if "HF_HUB_VERBOSITY" not in os.environ:
        # The hub logs every retry of a failed request as a warning (eleven lines on stderr
        # when the network is down); the failure is reported below in one line.
        hub_logger.setLevel(logging.ERROR)
    try:
        path = huggingface_hub.hf_hub_download(
            spec.hub_repo, spec.hub_filename, revision=spec.revision
        )
    except (
        Exception
    ) as error:  # the hub raises many types (HTTP, network, offline); all mean "unavailable"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsError(
            f"could not download model {spec.name!r} from {spec.hub_repo}@{spec.revision[:12]}: "
            f"{reason}"
        ) from None
    finally:
        hub_logger.setLevel(hub_level)
        if not progress and not was_disabled:
            enable_progress_bars()
    return Path(path)


def _resolve_hub(spec: ModelSpec, *, offline: bool, progress: bool) -> ResolvedModel:
    assert spec.hub_repo and spec.hub_filename and spec.revision
    cached = _hub_cached(spec.hub_repo, spec.hub_filename, spec.revision)
    if cached is not None:
        sha, verified = verify_file(cached, spec, discard_on_mismatch=True)
        return ResolvedModel(cached, spec, sha, "cache", verified)
    if is_offline(offline):
        raise WeightsError(
            f"model {spec.name!r} is not in the local cache and the tool is offline; "
            + fetch_hint(spec.name)
        )
    path = hub_download(spec, progress=progress)
    sha, verified = verify_file(path, spec, discard_on_mismatch=True)
    return ResolvedModel(path, spec, sha, "download", verified)


def resolve_spec(spec: ModelSpec, *, offline: bool = False, progress: bool = True) -> ResolvedModel:
    """Resolve a registered spec: bundled ``weights/``, then the hub cache, then a download."""
    if spec.file is not None:
        bundled = bundled_weights_dir() / spec.file
        if bundled.is_file():
            sha, verified = verify_file(bundled, spec, discard_on_mismatch=False)
            return ResolvedModel(bundled, spec, sha, "bundled", verified)
        if spec.hub_repo is None:
            raise WeightsError(
                f"bundled model {spec.name!r} is missing: {spec.file} is not in "
                f"{bundled_weights_dir()} (reinstall defocus-cli)"
            )
    return _resolve_hub(spec, offline=offline, progress=progress)


def resolve_model(
    model: str | None,
    task: str,
    offline: bool = False,
    *,
    progress: bool = True,
    registry: Registry | None = None,
) -> ResolvedModel:
    """Resolve ``--model`` (a registered name, an ONNX path, or ``hf://`` URI; ``None`` = the
    task's default) to a verified local file.

    Order: explicit path; bundled ``weights/``; huggingface_hub cache; ``hf_hub_download`` at
    the pinned revision (progress bar on stderr), then sha256 verification. With ``offline``
    or ``HF_HUB_OFFLINE`` set, a cache miss raises :class:`WeightsError` (exit 3) with a hint.
    """
    registry = registry if registry is not None else get_registry()
    if model is None:
        return resolve_spec(registry.default_model(task), offline=offline, progress=progress)
    if model.startswith(HF_SCHEME):
        uri = parse_hf_uri(model)
        matches = [s for s in registry if s.hub_repo == uri.repo and s.hub_filename == uri.filename]
        revision = uri.revision
        if matches and (revision is None or revision == matches[0].revision):
            return _resolve_hub(matches[0], offline=offline, progress=progress)
        if revision is None or not _COMMIT_RE.match(revision):
            raise UsageError(
                f"{model}: pin a full 40-hex commit revision (hf://{uri.repo}/{uri.filename}@"
                "<commit>) so the download is reproducible"
            )
        spec = _adhoc_spec(
            Path(uri.filename).stem,
            task,
            registry,
            hub_repo=uri.repo,
            hub_filename=uri.filename,
            revision=revision,
        )
        if matches:
            spec = replace(matches[0], revision=revision, sha256=None, file=None)
        return _resolve_hub(spec, offline=offline, progress=progress)
    if model in registry:
        spec = registry.get(model)
        if spec.task != task:
            raise UsageError(
                f"model {model!r} is a {spec.task!r} model, not {task!r} "
                f"(choices: {', '.join(registry.names(task)) or 'none registered'})"
            )
        return resolve_spec(spec, offline=offline, progress=progress)
    if _looks_like_path(model):
        path = Path(model).expanduser()
        if not path.is_file():
            raise WeightsError(f"model file not found: {model}")
        sha = sha256_file(path)
        exported = _exported_spec(path, task)
        if exported is not None:
            if exported.sha256 is not None and sha != exported.sha256:
                raise WeightsError(f"{path.name} does not match {path.with_suffix('.spec.json').name} (sha256 "
                                   f"{sha[:12]}…, expected {exported.sha256[:12]}…); export it again")
            return ResolvedModel(path, exported, sha, "path", "sha256")
        spec = _adhoc_spec(path.stem, task, registry, file=path.name, sha256=sha)
        return ResolvedModel(path, spec, sha, "path", "none")
    registry.get(model)  # raises UsageError with close-match suggestions
    raise AssertionError("unreachable")
