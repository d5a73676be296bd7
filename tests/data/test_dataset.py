"""Sample streams, write_dataset and its reader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from defocus_cli.data import readers
from defocus_cli.data.dataset import SampleStream, SyntheticDataset, write_dataset
from defocus_cli.errors import InputError, UsageError


@pytest.mark.parametrize("fmt", ["png", "npz"])
def test_write_then_read_round_trips(tmp_path: Path, fmt: str) -> None:
    write_dataset("magnify", 2, tmp_path / "out", (16, 24), seed=5, fmt=fmt)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["task"] == "magnify" and manifest["size"] == [16, 24] and len(manifest["samples"]) == 2
    ds = SyntheticDataset(tmp_path / "out")
    stream = SampleStream("magnify", (16, 24), seed=5)
    assert len(ds) == 2
    got, want = ds[1], stream[1]
    assert set(got) == set(want)
    for key in want:
        assert got[key].shape == want[key].shape, key
        np.testing.assert_allclose(got[key], want[key], atol=1 / 65535 + 1e-7, err_msg=key)


def test_stacks_and_masks_round_trip(tmp_path: Path) -> None:
    write_dataset("deeplens", 1, tmp_path / "d", 16, seed=1)
    got, want = SyntheticDataset(tmp_path / "d")[0], SampleStream("deeplens", 16, seed=1)[0]
    np.testing.assert_array_equal(got["segmentation"], want["segmentation"])
    write_dataset("aperture-stack", 1, tmp_path / "a", 16, seed=1)
    assert SyntheticDataset(tmp_path / "a")[0]["wide"].shape == (3, 16, 16, 3)


def test_refuses_non_empty_folder_unless_overwrite(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        write_dataset("syndof", 1, tmp_path, 16)
    write_dataset("syndof", 1, tmp_path, 16, overwrite=True)
    assert (tmp_path / "manifest.json").is_file()
    with pytest.raises(UsageError, match="unknown task"):
        SampleStream("nope", 16)
    with pytest.raises(InputError, match="manifest"):
        SyntheticDataset(tmp_path / "empty")


def test_stream_is_deterministic_and_shards_are_disjoint() -> None:
    stream = SampleStream("syndof", 16, seed=2)
    np.testing.assert_array_equal(stream[3]["image"], SampleStream("syndof", 16, seed=2)[3]["image"])
    a = [s["image"] for s in stream.shard(4, 0, 2)]
    b = [s["image"] for s in stream.shard(4, 1, 2)]
    np.testing.assert_array_equal(a[1], stream[2]["image"])
    np.testing.assert_array_equal(b[0], stream[1]["image"])
    batch = stream.batch(range(3))
    assert batch["image"].shape == (3, 16, 16, 3) and batch["blur_radius_px"].shape == (3,)


def test_syndof_stream_from_rgbd_folder(tmp_path: Path) -> None:
    (tmp_path / "image").mkdir()
    (tmp_path / "depth").mkdir()
    readers.write_image(tmp_path / "image" / "a.png", np.random.default_rng(0).random((20, 20, 3)))
    readers.write_image(tmp_path / "depth" / "a.png", np.tile(np.linspace(0, 1, 20), (20, 1)))
    sample = SampleStream("syndof", 16, seed=0, from_rgbd=tmp_path)[0]
    assert sample["image"].shape == (16, 16, 3)
    with pytest.raises(UsageError, match="syndof only"):
        SampleStream("magnify", 16, from_rgbd=tmp_path)


def test_data_engine_imports_neither_torch_nor_skimage() -> None:
    code = ("import sys, defocus_cli.data.dataset, defocus_cli.data.readers, defocus_cli.cli.data_cmd;"
            "bad = [m for m in ('torch', 'skimage') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
