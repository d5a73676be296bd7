"""torch Datasets over the data engine: synthetic samples on the fly, or a folder of samples.

Items are dicts of float32 tensors in torch layout: images 3xHxW sRGB [0, 1], maps 1xHxW,
stacks SxCxHxW (e.g. a focal stack 10x3xHxW), scalars shape (1,). Default collation stacks
them into NCHW batches.

Determinism: item ``i`` of a split is generated from ``numpy.random.default_rng((seed,
split_code, i))``, independent of the worker that builds it and of the batch it lands in, so
a run is reproducible with any number of DataLoader workers, resumes at the exact item it
stopped at, and the held-out ``val`` split (``split_code`` 1) never shares a seed with
``train`` (0).

>>> import numpy as np
>>> ds = SyntheticDataset(lambda rng: {"x": rng.random((8, 8, 3), dtype=np.float32)}, seed=0, split="val", length=2)
>>> ds[0]["x"].shape
torch.Size([3, 8, 8])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from defocus_cli.errors import UsageError

SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1, "test": 2}
#: Length of the on-the-fly training "dataset": effectively unbounded, indexed by the loop.
UNBOUNDED = 2**40

Sample = dict[str, np.ndarray]


def to_tensor(value: np.ndarray) -> torch.Tensor:
    """numpy (HxW, HxWxC, SxHxWxC, scalar or vector) -> float32 torch layout (1xHxW, CxHxW,
    SxCxHxW, (1,) or (n,))."""
    a = np.asarray(value, dtype=np.float32)
    if a.ndim == 0 or a.ndim == 2:
        a = a[None]
    elif a.ndim == 3:
        a = a.transpose(2, 0, 1)
    elif a.ndim == 4:
        a = a.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(a))


def to_tensors(sample: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: to_tensor(v) for k, v in sample.items()}


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of item ``index`` of ``split`` (see the module docstring)."""
    if split not in SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}")
    return np.random.default_rng((int(seed), SPLIT_CODES[split], int(index)))


class SyntheticDataset(Dataset):
    """``length`` items made by ``sampler(rng) -> dict of numpy arrays`` (then ``transform``).

    ``transform`` (optional) maps the numpy sample to the final dict of tensors; without it
    every array goes through :func:`to_tensor`.
    """

    def __init__(self, sampler: Callable[[np.random.Generator], Sample], *, seed: int, split: str,
                 length: int, transform: Callable[[Sample, np.random.Generator], dict[str, torch.Tensor]] | None = None) -> None:
        if split not in SPLIT_CODES:
            raise ValueError(f"unknown split {split!r}")
        self.sampler, self.seed, self.split, self.length = sampler, int(seed), split, int(length)
        self.transform = transform

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = sample_rng(self.seed, self.split, index)
        sample = self.sampler(rng)
        return self.transform(sample, rng) if self.transform else to_tensors(sample)


class NpzFolderDataset(Dataset):
    """A folder of ``*.npz`` samples with the data engine's keys (as written by
    ``defocus data synth``), sorted by name; ``keys`` must be present in every file.
    ``transform`` as in :class:`SyntheticDataset` (its rng comes from the item index)."""

    def __init__(self, folder: str | Path, keys: tuple[str, ...], *, seed: int = 0, split: str = "train",
                 transform: Callable[[Sample, np.random.Generator], dict[str, torch.Tensor]] | None = None) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise UsageError(f"dataset folder {self.folder} does not exist")
        self.files = sorted(self.folder.rglob("*.npz"))
        if not self.files:
            raise UsageError(f"dataset folder {self.folder} holds no .npz samples")
        self.keys, self.seed, self.split, self.transform = keys, int(seed), split, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        path = self.files[index]
        with np.load(path) as data:
            missing = [k for k in self.keys if k not in data]
            if missing:
                raise UsageError(f"{path} lacks {', '.join(missing)} (needs {', '.join(self.keys)})")
            sample = {k: np.asarray(data[k]) for k in data.files}
        rng = sample_rng(self.seed, self.split, index)
        return self.transform(sample, rng) if self.transform else to_tensors(sample)


class StepSampler(Sampler[int]):
    """Indices for steps ``start_step`` onwards: step ``s`` of rank ``r`` reads the global
    batch slice ``[s*B*W + r*B, s*B*W + (r+1)*B)`` (B per-rank batch, W world size), so a
    resumed or distributed run reads exactly the items an uninterrupted single run would.
    On a finite dataset the indices wrap through a permutation reshuffled every epoch.
    """

    def __init__(self, dataset_len: int, batch_size: int, start_step: int, total_steps: int, *,
                 rank: int = 0, world_size: int = 1, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.b, self.start, self.total = int(dataset_len), int(batch_size), int(start_step), int(total_steps)
        self.rank, self.world, self.seed, self.shuffle = rank, world_size, seed, shuffle

    def __len__(self) -> int:
        return max(0, self.total - self.start) * self.b

    def _perm(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng((self.seed, 7, epoch)).permutation(self.n)

    def __iter__(self) -> Iterator[int]:
        global_batch = self.b * self.world
        cached: dict[int, np.ndarray] = {}
        for step in range(self.start, self.total):
            first = step * global_batch + self.rank * self.b
            for flat in range(first, first + self.b):
                if self.n >= UNBOUNDED:
                    yield flat
                    continue
                epoch, pos = divmod(flat, self.n)
                if epoch not in cached:
                    cached.clear()
                    cached[epoch] = self._perm(epoch)
                yield int(cached[epoch][pos])


def random_crop_pair(rng: np.random.Generator, arrays: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    """The same random HxW crop of arrays sharing their first two axes (HxW or HxWxC)."""
    h, w = arrays[0].shape[:2]
    ch, cw = size
    if h < ch or w < cw:
        raise UsageError(f"a {h}x{w} sample is smaller than the {ch}x{cw} crop")
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    return [a[y : y + ch, x : x + cw] for a in arrays]


def describe(dataset: Dataset) -> dict[str, Any]:
    """A short description for run logs and model cards."""
    if isinstance(dataset, SyntheticDataset):
        return {"kind": "synthetic", "split": dataset.split, "seed": dataset.seed}
    if isinstance(dataset, NpzFolderDataset):
        return {"kind": "folder", "path": str(dataset.folder), "samples": len(dataset)}
    return {"kind": type(dataset).__name__}
