"""``defocus models list|fetch|verify|path``: see, download and check the checkpoints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from defocus_cli.errors import UsageError, WeightsError
from defocus_cli.models.registry import TASKS, ModelSpec, bundled_weights_dir, get_registry
from defocus_cli.models.resolve import fetch_hint, resolve_spec, verify_file


def _cached_path(spec: ModelSpec) -> Path | None:
    if spec.hub_repo is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(spec.hub_repo, spec.hub_filename, revision=spec.revision)
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def _local_file(spec: ModelSpec) -> tuple[str, Path | None]:
    """Where ``spec``'s file is on this machine: ("bundled"|"cached", path) or ("remote"|"missing", None)."""
    if spec.file is not None:
        bundled = bundled_weights_dir() / spec.file
        if bundled.is_file():
            return "bundled", bundled
    cached = _cached_path(spec)
    if cached is not None:
        return "cached", cached
    return ("remote" if spec.hub_repo else "missing"), None


def _human_size(n_bytes: int | None) -> str:
    if n_bytes is None:
        return "-"
    size = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _row(spec: ModelSpec) -> dict[str, object]:
    status, path = _local_file(spec)
    return {
        "name": spec.name,
        "task": spec.task,
        "version": spec.version,
        "status": status,
        "size_bytes": path.stat().st_size if path else None,
        "licence": spec.licence,
        "integrity": spec.integrity,
        "sha256": spec.sha256,
        "hub": f"{spec.hub_repo}/{spec.hub_filename}@{spec.revision}" if spec.hub_repo else None,
        "default": spec.default,
        "path": str(path) if path else None,
    }


def _specs(names: tuple[str, ...]) -> list[ModelSpec]:
    registry = get_registry()
    return [registry.get(n) for n in names] if names else list(registry)


@click.group("models")
def models() -> None:
    """List, download, verify and locate model checkpoints.

    \b
    Examples:
      defocus models list
      defocus models fetch depth-anything-v2-small
      defocus models verify
      defocus models path depth-anything-v2-small
    """


@models.command("list")
@click.option("--task", type=click.Choice(TASKS), default=None, help="Only models for this task.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model on stdout.")
def list_models(task: str | None, as_json: bool) -> None:
    """Show every registered model: task, size, licence, where it is, how it is checked.

    \b
    status:    bundled (shipped in weights/), cached (downloaded), remote (fetched on first use)
    integrity: sha256 (pinned digest) or hub integrity only (the hub's content address)
    """
    rows = [_row(s) for s in get_registry() if task is None or s.task == task]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if not rows:
        click.echo("no models registered" + (f" for task {task!r}" if task else ""))
        return
    header = ("name", "task", "size", "licence", "status", "integrity")
    table = [
        (
            str(r["name"]) + (" *" if r["default"] else ""),
            str(r["task"]),
            _human_size(r["size_bytes"]),  # type: ignore[arg-type]
            str(r["licence"]),
            str(r["status"]),
            str(r["integrity"]),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header))]
    for line in [header, *table]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    if any(r["default"] for r in rows):
        click.echo("* default model for its task")
    if any(r["integrity"] == "hub integrity only" for r in rows):
        click.echo(
            "hub integrity only: no sha256 is pinned here; a download is checked against the "
            "hub's content address (its LFS sha256) at the pinned revision"
        )


@models.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--all", "fetch_all", is_flag=True, help="Fetch every model that comes from the hub.")
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress bar (none when stderr is not a terminal)."
)
def fetch(names: tuple[str, ...], fetch_all: bool, quiet: bool) -> None:
    """Download models into the Hugging Face cache at their pinned revision and verify them."""
    if not names and not fetch_all:
        raise UsageError("name a model to fetch (see `defocus models list`) or pass --all")
    specs = _specs(names) if names else [s for s in get_registry() if s.hub_repo]
    for spec in specs:
        resolved = resolve_spec(spec, offline=False, progress=not quiet and sys.stderr.isatty())
        click.echo(f"{spec.name}: {resolved.source} {resolved.path} (checked: {resolved.verified})")


@models.command("verify")
@click.argument("names", nargs=-1)
def verify(names: tuple[str, ...]) -> None:
    """Recompute the sha256 of bundled and cached files; any mismatch exits with code 3.

    A corrupt cached download is deleted so the next run fetches it again.
    """
    failures: list[str] = []
    for spec in _specs(names):
        status, path = _local_file(spec)
        if path is None:
            if names:
                failures.append(f"{spec.name} ({status}; {fetch_hint(spec.name)})")
            click.echo(f"{spec.name}: {status}, nothing to verify")
            continue
        try:
            sha, how = verify_file(path, spec, discard_on_mismatch=status == "cached")
        except WeightsError as error:
            click.echo(f"{spec.name}: FAILED: {error}")
            failures.append(spec.name)
            continue
        note = "not checked: no digest known" if how == "none" else f"ok ({how})"
        click.echo(f"{spec.name}: {note} {status} sha256={sha}")
    if failures:
        raise WeightsError(f"verification failed: {', '.join(failures)}")


@models.command("path")
@click.argument("name")
def path(name: str) -> None:
    """Print the local file of a model; never downloads (exit 3 when it is not available)."""
    spec = get_registry().get(name)
    if _local_file(spec)[0] == "remote":
        raise WeightsError(f"model {name!r} is not downloaded yet (models path never downloads); {fetch_hint(name)}")
    resolved = resolve_spec(spec, offline=True, progress=False)
    click.echo(str(resolved.path))
