"""Registry: spec validation, manifest round trip, duplicate and typo handling, weights folder."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from defocus_cli.errors import UsageError, WeightsError
from defocus_cli.models import registry as reg
from defocus_cli.models.registry import (
    EXTERNAL_SPECS,
    ModelSpec,
    Registry,
    TensorSpec,
    add_manifest_entry,
    load_registry,
    read_manifest,
    spec_from_dict,
    spec_to_dict,
)

SHA = "ab" * 32


def bundled_spec(name: str = "tiny-deblur", task: str = "deblur", **kw: object) -> ModelSpec:
    values: dict[str, object] = dict(
        name=name,
        task=task,
        file=f"{name}.onnx",
        sha256=SHA,
        inputs=(TensorSpec("image", "NCHW", 3),),
        outputs=(TensorSpec("output", "NCHW", 3),),
        licence="MIT",
    )
    values.update(kw)
    return ModelSpec(**values)  # type: ignore[arg-type]


def test_spec_round_trips_through_the_manifest_format() -> None:
    spec = bundled_spec(working_resolution=512, card="tiny-deblur.md", extra={"psnr": 30.1})
    data = json.loads(json.dumps(spec_to_dict(spec)))
    assert spec_from_dict(data) == spec
    assert data["inputs"] == [{"name": "image", "layout": "NCHW", "channels": 3}]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": "Bad Name"}, "name"),
        ({"task": "sharpen"}, "unknown task"),
        ({"sha256": "xyz"}, "sha256"),
        ({"sha256": None}, "needs its sha256"),
        ({"file": None}, "bundled file or a hub"),
        ({"hub_repo": "org/x", "hub_filename": "x.onnx", "revision": "main"}, "40-hex"),
        ({"hub_repo": "org/x", "revision": "a" * 40}, "hub_filename"),
        ({"stride": 0}, "stride"),
        ({"preprocessing": "magic"}, "preprocessing"),
    ],
)
def test_invalid_specs_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bundled_spec(**change)


def test_tensor_spec_rank_and_validation() -> None:
    assert TensorSpec("x", "NHW", None).rank == 3
    with pytest.raises(ValueError):
        TensorSpec("x", "NHW", 3)  # channels without a C axis
    with pytest.raises(ValueError):
        TensorSpec("x", "NCCW", 3)


def test_external_spec_may_lack_sha256_and_says_so() -> None:
    spec = ModelSpec(
        name="ext", task="depth", hub_repo="org/ext", hub_filename="m.onnx", revision="c" * 40
    )
    assert spec.is_external and spec.integrity == "hub integrity only"
    assert bundled_spec().integrity == "sha256"


def test_registry_refuses_duplicates_and_suggests_close_names() -> None:
    registry = Registry([bundled_spec(), bundled_spec("tiny-magnify", "magnify")])
    with pytest.raises(ValueError, match="twice"):
        registry.register(bundled_spec())
    with pytest.raises(UsageError, match="did you mean tiny-deblur") as caught:
        registry.get("tiny-debluur")
    assert caught.value.exit_code == 2
    assert registry.names("magnify") == ["tiny-magnify"]


def test_default_model_prefers_flagged_then_bundled() -> None:
    ext = ModelSpec(
        name="ext-depth", task="depth", hub_repo="o/r", hub_filename="m.onnx", revision="c" * 40
    )
    first = bundled_spec("depth-a", "depth")
    flagged = bundled_spec("depth-b", "depth", default=True)
    assert Registry([ext, first]).default_model("depth").name == "depth-a"
    assert Registry([ext, first, flagged]).default_model("depth").name == "depth-b"
    assert Registry([ext]).default_model("depth").name == "ext-depth"
    with pytest.raises(WeightsError, match="no model is registered"):
        Registry([ext]).default_model("magnify")


def test_add_manifest_entry_replaces_by_name_and_keeps_order(tmp_path: Path) -> None:
    manifest = tmp_path / "weights" / "manifest.json"
    add_manifest_entry(bundled_spec("zeta"), manifest)
    add_manifest_entry(bundled_spec("alpha"), manifest)
    add_manifest_entry(bundled_spec("zeta", version="2"), manifest)
    specs = read_manifest(manifest)
    assert [s.name for s in specs] == ["alpha", "zeta"]
    assert specs[1].version == "2"
    assert [p.name for p in manifest.parent.iterdir()] == ["manifest.json"]  # no temp files left
    with pytest.raises(ValueError, match="only bundled"):
        add_manifest_entry(EXTERNAL_SPECS[0], manifest)


def test_add_manifest_entry_marked_default_becomes_the_tasks_only_default(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    add_manifest_entry(bundled_spec("a-old", default=True), manifest)
    add_manifest_entry(bundled_spec("a-depth", "depth", default=True), manifest)
    add_manifest_entry(bundled_spec("b-new", default=True), manifest)
    registry = load_registry(manifest, external=False)
    assert registry.default_model("deblur").name == "b-new"
    assert registry.default_model("depth").name == "a-depth"
    assert [s.name for s in read_manifest(manifest) if s.default] == ["a-depth", "b-new"]


def test_broken_manifest_is_a_weights_error(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"name": "x"}')
    with pytest.raises(WeightsError, match="JSON list"):
        read_manifest(manifest)
    manifest.write_text(json.dumps([{**spec_to_dict(bundled_spec()), "colour": "red"}]))
    with pytest.raises(WeightsError, match="unknown keys"):
        read_manifest(manifest)
    assert read_manifest(tmp_path / "absent.json") == []


def test_shipped_manifest_and_external_entries_load() -> None:
    shipped = Path(__file__).resolve().parents[2] / "weights" / "manifest.json"
    assert isinstance(json.loads(shipped.read_text()), list)
    registry = load_registry(shipped)
    depth = registry.get("depth-anything-v2-small")
    assert depth.hub_repo == "onnx-community/depth-anything-v2-small"
    assert depth.hub_filename == "onnx/model.onnx"
    assert re.fullmatch(r"[0-9a-f]{40}", depth.revision or "")
    assert depth.sha256 is None and depth.stride == 14 and depth.preprocessing == "imagenet"
    for spec in registry:
        if not spec.is_external:
            assert (shipped.parent / str(spec.file)).is_file(), spec.name


def test_weights_dir_override_and_source_checkout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(reg.WEIGHTS_DIR_ENV, raising=False)
    checkout = Path(reg.__file__).resolve().parents[2] / "weights"
    assert reg.bundled_weights_dir() == checkout
    monkeypatch.setenv(reg.WEIGHTS_DIR_ENV, str(tmp_path))
    add_manifest_entry(replace(bundled_spec(), name="mine"), tmp_path / "manifest.json")
    assert reg.bundled_weights_dir() == tmp_path
    assert "mine" in reg.get_registry()
    assert reg.default_model("deblur").name == "mine"
