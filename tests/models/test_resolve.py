"""Resolution without the network: explicit paths, bundled files, hf:// URIs, offline misses.

Downloads and cache hits against the local hub stand-in run in subprocesses, in
tests/cli/test_models_cmd.py, because huggingface_hub reads HF_ENDPOINT at import time.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from defocus_cli.errors import UsageError, WeightsError
from defocus_cli.models.registry import ModelSpec, Registry, TensorSpec
from defocus_cli.models.resolve import (
    HubURI,
    hub_download,
    is_offline,
    parse_hf_uri,
    resolve_model,
    sha256_file,
    verify_file,
)
from tests.models.tiny_models import conv_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(folder))
    return folder


def tiny_spec(folder: Path, name: str = "tiny", **kw: object) -> ModelSpec:
    data = conv_model(folder / f"{name}.onnx")
    values: dict[str, object] = dict(
        name=name,
        task="deblur",
        file=f"{name}.onnx",
        sha256=hashlib.sha256(data).hexdigest(),
        inputs=(TensorSpec("image"),),
        outputs=(TensorSpec("output"),),
        stride=4,
    )
    values.update(kw)
    return ModelSpec(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("hf://org/repo/model.onnx", HubURI("org/repo", "model.onnx", None)),
        ("hf://org/repo/onnx/model.onnx@" + COMMIT, HubURI("org/repo", "onnx/model.onnx", COMMIT)),
    ],
)
def test_parse_hf_uri(uri: str, expected: HubURI) -> None:
    assert parse_hf_uri(uri) == expected
    assert str(parse_hf_uri(uri)) == uri


@pytest.mark.parametrize("uri", ["hf://org/model.onnx", "hf://org/repo/x.onnx@", "hf://o/r/../x"])
def test_malformed_hf_uri_is_a_usage_error(uri: str) -> None:
    with pytest.raises(UsageError):
        parse_hf_uri(uri)


def test_unpinned_hf_uri_is_refused_before_any_network() -> None:
    with pytest.raises(UsageError, match="40-hex"):
        resolve_model("hf://org/repo/model.onnx@main", "deblur", registry=Registry())


def test_bundled_model_resolves_and_is_verified(weights: Path) -> None:
    spec = tiny_spec(weights)
    resolved = resolve_model("tiny", "deblur", registry=Registry([spec]))
    assert resolved.path == weights / "tiny.onnx"
    assert (resolved.source, resolved.verified, resolved.sha256) == (
        "bundled",
        "sha256",
        spec.sha256,
    )
    # no name: the task's default
    assert resolve_model(None, "deblur", registry=Registry([spec])).spec is spec


def test_corrupt_bundled_file_fails_with_exit_3_and_is_kept(weights: Path) -> None:
    spec = tiny_spec(weights)
    (weights / "tiny.onnx").write_bytes(b"not the model")
    with pytest.raises(WeightsError, match="checksum mismatch") as caught:
        resolve_model("tiny", "deblur", registry=Registry([spec]))
    assert caught.value.exit_code == 3
    assert (weights / "tiny.onnx").exists()  # a shipped file is reported, never deleted


def test_missing_bundled_file_without_hub_fallback(weights: Path) -> None:
    spec = tiny_spec(weights)
    (weights / "tiny.onnx").unlink()
    with pytest.raises(WeightsError, match="missing"):
        resolve_model("tiny", "deblur", registry=Registry([spec]))


def test_explicit_path_uses_the_task_contract(weights: Path, tmp_path: Path) -> None:
    spec = tiny_spec(weights)
    mine = tmp_path / "My Model.onnx"
    conv_model(mine, seed=3)
    resolved = resolve_model(str(mine), "deblur", registry=Registry([spec]))
    assert resolved.source == "path" and resolved.verified == "none"
    assert resolved.sha256 == sha256_file(mine)
    assert resolved.spec.inputs == spec.inputs and resolved.spec.name == "my-model"
    # with nothing registered for the task, a user's file carries no contract
    bare = resolve_model(str(mine), "magnify", registry=Registry([spec]))
    assert bare.spec.inputs == () and bare.spec.task == "magnify"
    with pytest.raises(WeightsError, match="not found"):
        resolve_model(str(tmp_path / "absent.onnx"), "deblur", registry=Registry([spec]))


def test_unknown_name_and_wrong_task_are_usage_errors(weights: Path) -> None:
    registry = Registry([tiny_spec(weights)])
    with pytest.raises(UsageError, match="did you mean tiny"):
        resolve_model("tinny", "deblur", registry=registry)
    with pytest.raises(UsageError, match="is a 'deblur' model"):
        resolve_model("tiny", "magnify", registry=registry)


def test_offline_cache_miss_gives_a_fetch_hint(
    weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = ModelSpec(
        name="remote", task="depth", hub_repo="org/remote", hub_filename="m.onnx", revision=COMMIT
    )
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(WeightsError, match="defocus models fetch remote") as caught:
        resolve_model("remote", "depth", offline=True, registry=Registry([spec]))
    assert caught.value.exit_code == 3
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert is_offline(False)
    with pytest.raises(WeightsError, match="offline"):
        resolve_model("remote", "depth", registry=Registry([spec]))


def test_failed_download_is_one_line_without_the_hubs_retry_warnings(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import huggingface_hub

    def unreachable(*args: object, **kwargs: object) -> str:
        # what the hub's HTTP layer logs while it retries a host it cannot reach
        for attempt in range(1, 6):
            logging.getLogger("huggingface_hub.utils._http").warning(f"Retrying in 1s [Retry {attempt}/5].")
        raise OSError("Name or service not known\nsecond line")

    monkeypatch.delenv("HF_HUB_VERBOSITY", raising=False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", unreachable)
    spec = ModelSpec(
        name="remote", task="depth", hub_repo="org/remote", hub_filename="m.onnx", revision=COMMIT
    )
    level = logging.getLogger("huggingface_hub").level
    with pytest.raises(WeightsError, match="could not download model 'remote'.*Name or service not known$"):
        hub_download(spec, progress=False)
    assert "Retry" not in capfd.readouterr().err
    assert logging.getLogger("huggingface_hub").level == level  # restored for the caller


def test_hub_check_uses_the_blob_content_address(tmp_path: Path) -> None:
    spec = ModelSpec(
        name="remote", task="depth", hub_repo="org/remote", hub_filename="m.onnx", revision=COMMIT
    )
    data = b"weights"
    blob = tmp_path / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir()
    blob.write_bytes(data)
    link = tmp_path / "snapshot.onnx"
    link.symlink_to(blob)
    assert verify_file(link, spec, discard_on_mismatch=True)[1] == "hub"
    blob.write_bytes(b"tampered")
    with pytest.raises(WeightsError, match="checksum mismatch"):
        verify_file(link, spec, discard_on_mismatch=True)
    assert not link.exists() and not blob.exists()  # nothing left that looks valid
