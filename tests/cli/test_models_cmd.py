"""`defocus models` end to end, in subprocesses, against the local hub stand-in.

huggingface_hub reads HF_ENDPOINT when it is imported, so each CLI call is a fresh process
with HF_ENDPOINT pointing at the stand-in and HF_HOME in a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub_server import HubStandIn, hub_server_fixture  # noqa: F401 - provides hub_server
from tests.models.tiny_models import conv_model, depth_standin_model

ROOT = Path(__file__).resolve().parents[2]
REPO = "defocus-test/tiny-deblur"
FILENAME = "onnx/tiny.onnx"


def defocus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "defocus_cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def write_manifest(folder: Path, entries: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(entries))
    return folder


def hub_entry(commit: str, sha256: str | None, **kw: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": "tiny-deblur",
        "task": "deblur",
        "sha256": sha256,
        "hub_repo": REPO,
        "hub_filename": FILENAME,
        "revision": commit,
        "inputs": [{"name": "image", "layout": "NCHW", "channels": 3}],
        "outputs": [{"name": "output", "layout": "NCHW", "channels": 3}],
        "licence": "MIT",
    }
    if sha256 is not None:
        entry["file"] = "tiny.onnx"  # shipped name; absent from weights/, so it comes from the hub
    entry.update(kw)
    return entry


@pytest.fixture
def published(
    hub_server: HubStandIn, tmp_path: Path
) -> tuple[HubStandIn, dict[str, str], bytes, str]:
    """A tiny model at a pinned commit, a newer `main` beside it, and a registry naming it."""
    data = conv_model(seed=1)
    commit = hub_server.add_file(REPO, FILENAME, data, branch="pinned")
    hub_server.add_file(REPO, FILENAME, conv_model(seed=2))  # what `main` serves now
    weights = write_manifest(
        tmp_path / "weights", [hub_entry(commit, hashlib.sha256(data).hexdigest())]
    )
    env = hub_server.env(tmp_path, DEFOCUS_WEIGHTS_DIR=str(weights))
    return hub_server, env, data, commit


def test_fetch_downloads_the_pinned_revision_then_hits_the_cache(published) -> None:
    hub, env, data, commit = published
    first = defocus(env, "models", "fetch", "tiny-deblur", "--quiet")
    assert first.returncode == 0, first.stderr
    assert "download" in first.stdout and "checked: sha256" in first.stdout
    assert hub.gets() == [f"/{REPO}/resolve/{commit}/{FILENAME}"]  # the pinned commit, not main

    again = defocus(env, "models", "fetch", "tiny-deblur", "--quiet")
    assert again.returncode == 0 and "cache" in again.stdout
    path = defocus(env, "models", "path", "tiny-deblur")
    assert path.returncode == 0
    assert Path(path.stdout.strip()).read_bytes() == data
    assert len(hub.gets()) == 1  # the server saw no second download

    listed = defocus(env, "models", "list", "--json")
    rows = {r["name"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert rows["tiny-deblur"]["status"] == "cached"
    assert rows["tiny-deblur"]["size_bytes"] == len(data)
    verified = defocus(env, "models", "verify", "tiny-deblur")
    assert verified.returncode == 0 and "ok (sha256)" in verified.stdout


def test_checksum_mismatch_exits_3_and_leaves_nothing_valid(published, tmp_path: Path) -> None:
    hub, env, _data, commit = published
    weights = write_manifest(tmp_path / "bad-weights", [hub_entry(commit, "0" * 64)])
    env = dict(env, DEFOCUS_WEIGHTS_DIR=str(weights))
    done = defocus(env, "models", "fetch", "tiny-deblur", "--quiet")
    assert done.returncode == 3
    assert "checksum mismatch" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    gone = defocus(env, "models", "path", "tiny-deblur")
    assert gone.returncode == 3  # the corrupt download was removed from the cache
    assert not list((tmp_path / "hf-home").rglob("tiny.onnx"))


def test_offline_cache_miss_exits_3_with_a_hint(published) -> None:
    hub, env, _data, _commit = published
    done = defocus(dict(env, HF_HUB_OFFLINE="1"), "models", "fetch", "tiny-deblur")
    assert done.returncode == 3
    assert "defocus models fetch tiny-deblur" in done.stderr
    path = defocus(env, "models", "path", "tiny-deblur")  # `path` never downloads
    assert path.returncode == 3 and "not downloaded yet" in path.stderr and "offline" not in path.stderr
    assert "defocus models fetch tiny-deblur" in path.stderr and len(path.stderr.strip().splitlines()) == 1
    assert hub.gets() == []


def test_external_model_checked_against_the_hub_content_address(
    hub_server: HubStandIn,
    tmp_path: Path,
) -> None:
    good = depth_standin_model()
    commit = hub_server.add_file("org/depth", "onnx/model.onnx", good)
    bad_commit = hub_server.add_file(
        "org/bad-depth", "onnx/model.onnx", good, etag=hashlib.sha256(b"other").hexdigest()
    )
    io = {
        "task": "depth",
        "hub_filename": "onnx/model.onnx",
        "inputs": [{"name": "pixel_values", "layout": "NCHW", "channels": 3}],
        "outputs": [{"name": "predicted_depth", "layout": "NHW", "channels": None}],
        "preprocessing": "imagenet",
        "stride": 14,
        "sha256": None,
    }
    weights = write_manifest(
        tmp_path / "weights",
        [
            {"name": "ext-depth", "hub_repo": "org/depth", "revision": commit, **io},
            {"name": "ext-bad", "hub_repo": "org/bad-depth", "revision": bad_commit, **io},
        ],
    )
    env = hub_server.env(tmp_path, DEFOCUS_WEIGHTS_DIR=str(weights))
    listed = defocus(env, "models", "list")
    assert "hub integrity only" in listed.stdout and "remote" in listed.stdout
    ok = defocus(env, "models", "fetch", "ext-depth", "--quiet")
    assert ok.returncode == 0 and "checked: hub" in ok.stdout, ok.stderr
    bad = defocus(env, "models", "fetch", "ext-bad", "--quiet")
    assert bad.returncode == 3 and "checksum mismatch" in bad.stderr


def test_hf_uri_downloads_a_pinned_file_and_runs_it(hub_server: HubStandIn, tmp_path: Path) -> None:
    commit = hub_server.add_file("org/mine", "net.onnx", conv_model(seed=4))
    weights = write_manifest(tmp_path / "weights", [])
    env = hub_server.env(tmp_path, DEFOCUS_WEIGHTS_DIR=str(weights))
    script = (
        "import sys; from defocus_cli.cli.model_options import open_model\n"
        "net = open_model('deblur', model=sys.argv[1], device='cpu', progress=False)\n"
        "print(net.info()['provider'], net.resolved.source, net.resolved.verified)\n"
    )
    uri = f"hf://org/mine/net.onnx@{commit}"
    done = subprocess.run(
        [sys.executable, "-c", script, uri],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["CPUExecutionProvider", "download", "hub"]
    assert hub_server.gets() == [f"/org/mine/resolve/{commit}/net.onnx"]


def test_empty_manifest_and_user_errors(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(
        DEFOCUS_WEIGHTS_DIR=str(write_manifest(tmp_path / "weights", [])),
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_OFFLINE="1",
    )
    listed = defocus(env, "models", "list", "--task", "deblur")
    assert listed.returncode == 0 and "no models registered for task 'deblur'" in listed.stdout
    everything = defocus(env, "models", "list")
    assert (
        "depth-anything-v2-small" in everything.stdout and "hub integrity only" in everything.stdout
    )
    assert defocus(env, "models", "verify").returncode == 0
    nothing = defocus(env, "models", "fetch")
    assert nothing.returncode == 2 and "name a model" in nothing.stderr
    typo = defocus(env, "models", "path", "depth-anything-v2-smal")
    assert typo.returncode == 2 and "did you mean depth-anything-v2-small" in typo.stderr
    missing = defocus(env, "models", "verify", "depth-anything-v2-small")
    assert missing.returncode == 3 and "defocus models fetch" in missing.stdout + missing.stderr


def test_verify_reports_a_corrupt_bundled_file(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    data = conv_model(weights / "tiny.onnx")
    entry = hub_entry("a" * 40, hashlib.sha256(data).hexdigest())
    for key in ("hub_repo", "hub_filename", "revision"):
        entry.pop(key)
    write_manifest(weights, [entry])
    env = dict(os.environ, DEFOCUS_WEIGHTS_DIR=str(weights), HF_HOME=str(tmp_path / "hf"))
    good = defocus(env, "models", "verify", "tiny-deblur")
    assert good.returncode == 0 and "ok (sha256) bundled" in good.stdout
    assert defocus(env, "models", "path", "tiny-deblur").stdout.strip() == str(
        weights / "tiny.onnx"
    )
    (weights / "tiny.onnx").write_bytes(data[:-1] + b"\x00")
    bad = defocus(env, "models", "verify")
    assert bad.returncode == 3 and "FAILED" in bad.stdout
    assert (weights / "tiny.onnx").exists()


def test_model_layer_never_imports_torch(tmp_path: Path) -> None:
    path = tmp_path / "net.onnx"
    conv_model(path)
    script = (
        "import sys, numpy as np\n"
        "from defocus_cli.cli import main as cli_main\n"
        "from defocus_cli.cli.model_options import open_model\n"
        "net = open_model('deblur', model=sys.argv[1], device='cpu')\n"
        "net.run_image(np.zeros((20, 30, 3), np.float32), tile_px=16, overlap_px=8)\n"
        "try:\n"
        "    cli_main.main(['models', 'list'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('clean')\n"
    )
    env = dict(os.environ, DEFOCUS_WEIGHTS_DIR=str(write_manifest(tmp_path / "w", [])))
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("clean"), done.stderr


def test_depth_anything_entry_against_a_stand_in_of_the_same_io(
    hub_server: HubStandIn, tmp_path: Path
) -> None:
    from defocus_cli.models.registry import DEPTH_ANYTHING_V2_SMALL as spec

    hub_server.add_file(
        str(spec.hub_repo), str(spec.hub_filename), depth_standin_model(), commit=spec.revision
    )
    env = hub_server.env(tmp_path, DEFOCUS_WEIGHTS_DIR=str(write_manifest(tmp_path / "w", [])))
    fetched = defocus(env, "models", "fetch", spec.name, "--quiet")
    assert fetched.returncode == 0 and "checked: hub" in fetched.stdout, fetched.stderr
    assert hub_server.gets() == [f"/{spec.hub_repo}/resolve/{spec.revision}/{spec.hub_filename}"]
    script = (
        "import numpy as np\n"
        "from defocus_cli.cli.model_options import open_model\n"
        "net = open_model('depth', model='depth-anything-v2-small', device='cpu', offline=True)\n"
        "print(net.run_image(np.full((30, 45, 3), 0.5, np.float32), tile_px=None).shape)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip() == "(30, 45)", done.stderr
