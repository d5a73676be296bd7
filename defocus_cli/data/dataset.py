"""On-the-fly sample streams, and synthetic datasets written to / read from disk.

A :class:`SampleStream` makes sample ``i`` from the seed sequence ``(seed, i)``, so any
worker process can produce any index and a split like ``range(worker, n, n_workers)``
gives disjoint, reproducible shards. :func:`write_dataset` stores samples as

- ``NNNNNN_KEY.png``: images (HxWx3 sRGB) as 16-bit PNG; stacks as ``NNNNNN_KEY_JJ.png``;
- ``NNNNNN_KEY.npy``: float32 maps (disparity, CoC radius in px, depth);
- ``NNNNNN_KEY.png`` 8-bit for binary masks (``segmentation``);
- ``manifest.json``: task, size, seed, parameters, the key layout and per-sample scalars;

and :class:`SyntheticDataset` reads that back into the sampler's dict. With ``fmt="npz"``
each sample is one ``NNNNNN.npz`` holding every key as float32 (faster to load in training,
larger on disk), listed in the same manifest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from defocus_cli import __version__
from defocus_cli.data import readers
from defocus_cli.data.tasks import SAMPLERS, as_size
from defocus_cli.errors import InputError, UsageError

FORMAT = "defocus-synth/1"
TASKS = tuple(SAMPLERS)
_MASK_KEYS = ("segmentation",)


class SampleStream:
    """Deterministic samples of one task: ``stream[i]`` is the same dict in every process.

    Args:
        task: a key of :data:`defocus_cli.data.tasks.SAMPLERS` ("magnify", "refocus", ...).
        size: int or (H, W).
        seed: the stream's seed; sample i uses ``(seed, i)``.
        from_rgbd: for "syndof", a generic RGB-D folder to defocus instead of synthetic scenes
            (pairs are used in turn, ``i % len(pairs)``, each randomly cropped to ``size``).
        **params: passed to the sampler (e.g. ``m=2.0``, ``blur_radius_px=(1, 3)``).

    Example::

        stream = SampleStream("magnify", 128, seed=1)
        batch = stream.batch(range(8))      # dict of stacked arrays, batch["narrow"]: 8x128x128x3
    """

    def __init__(self, task: str, size: int | tuple[int, int], seed: int = 0,
                 from_rgbd: str | Path | None = None, depth_kind: str = "disparity", **params: Any) -> None:
        if task not in SAMPLERS:
            raise UsageError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        if from_rgbd is not None and task != "syndof":
            raise UsageError("--from-rgbd works with --task syndof only")
        self.task, self.size, self.seed, self.params = task, as_size(size), int(seed), params
        self.depth_kind = depth_kind
        self.rgbd = readers.read_rgbd_folder(from_rgbd) if from_rgbd is not None else None
        self._sampler: Callable[..., dict[str, np.ndarray]] = SAMPLERS[task]

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if index < 0:
            raise IndexError("sample indices are >= 0")
        key = (self.seed, int(index))
        if self.rgbd is not None:
            image, disparity = self.rgbd[index % len(self.rgbd)].load(self.depth_kind)
            return self._sampler(key, self.size, image=image, disparity=disparity, **self.params)
        return self._sampler(key, self.size, **self.params)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        index = 0
        while True:
            yield self[index]
            index += 1

    def shard(self, n: int, worker: int = 0, n_workers: int = 1) -> Iterator[dict[str, np.ndarray]]:
        """The samples ``worker, worker + n_workers, ...`` below ``n``: disjoint across workers."""
        for index in range(worker, n, n_workers):
            yield self[index]

    def batch(self, indices: Any) -> dict[str, np.ndarray]:
        """Stack the samples at ``indices`` along a new first axis."""
        samples = [self[i] for i in indices]
        return {key: np.stack([s[key] for s in samples]) for key in samples[0]}


def _kind(key: str, value: np.ndarray) -> str:
    if value.ndim <= 1:
        return "scalar"
    if key in _MASK_KEYS:
        return "mask"
    if value.ndim == 3 and value.shape[2] == 3:
        return "image"
    if value.ndim == 4:
        return "stack"
    return "map"


def write_dataset(task: str, n: int, out_dir: str | Path, size: int | tuple[int, int], seed: int = 0,
                  from_rgbd: str | Path | None = None, *, overwrite: bool = False,
                  progress: Callable[[int], None] | None = None, fmt: str = "png", **params: Any) -> Path:
    """Generate ``n`` samples of ``task`` into ``out_dir``; returns the manifest path.

    ``fmt`` "png" (PNG + .npy files) or "npz" (one archive per sample). Refuses a non-empty
    ``out_dir`` unless ``overwrite``. ``progress(i)`` is called after each sample.
    """
    if fmt not in ("png", "npz"):
        raise UsageError(f"format must be png or npz, got {fmt!r}")
    if n < 1:
        raise UsageError(f"-n must be at least 1, got {n}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"{out}: folder is not empty; choose another or pass --overwrite")
    stream = SampleStream(task, size, seed, from_rgbd, **params)
    out.mkdir(parents=True, exist_ok=True)
    layout: dict[str, str] = {}
    records = []
    for i in range(n):
        sample = stream[i]
        scalars: dict[str, Any] = {}
        if fmt == "npz":
            for key, value in sample.items():
                layout.setdefault(key, _kind(key, value))
            np.savez_compressed(out / f"{i:06d}.npz", **{k: v.astype(np.float32) for k, v in sample.items()})
            records.append({"index": i, "scalars": {k: v.tolist() for k, v in sample.items() if v.ndim <= 1}})
            if progress is not None:
                progress(i)
            continue
        for key, value in sample.items():
            kind = layout.setdefault(key, _kind(key, value))
            stem = out / f"{i:06d}_{key}"
            if kind == "scalar":
                scalars[key] = value.tolist()
            elif kind == "image":
                readers.write_image(stem.with_suffix(".png"), value, bits=16)
            elif kind == "mask":
                readers.write_image(stem.with_suffix(".png"), value, bits=8)
            elif kind == "stack":
                for j, item in enumerate(value):
                    readers.write_image(out / f"{i:06d}_{key}_{j:02d}.png", item, bits=16)
            else:
                np.save(stem.with_suffix(".npy"), value.astype(np.float32))
        records.append({"index": i, "scalars": scalars,
                        "stack_lengths": {k: int(len(v)) for k, v in sample.items() if layout[k] == "stack"}})
        if progress is not None:
            progress(i)
    manifest = {"format": FORMAT, "files": fmt, "generator": f"defocus {__version__}", "task": task, "n": n,
                "size": list(stream.size), "seed": stream.seed, "from_rgbd": None if from_rgbd is None else str(from_rgbd),
                "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
                "keys": layout, "conventions": {
                    "image": "16-bit PNG, sRGB", "map": "float32 .npy (disparity D in [0,1], 1 = nearest; CoC radius px)",
                    "stack": "16-bit PNG per slice, KEY_JJ", "mask": "8-bit PNG, 255 = 1"},
                "samples": records}
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


class SyntheticDataset:
    """Reads what :func:`write_dataset` wrote: ``len(ds)`` samples, ``ds[i]`` the sampler's dict."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / "manifest.json"
        try:
            self.manifest = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"{self.root}: no manifest.json (not a folder written by 'defocus data synth')") from None
        except json.JSONDecodeError as error:
            raise InputError(f"{path}: not valid JSON ({error})") from None
        if self.manifest.get("format") != FORMAT:
            raise InputError(f"{path}: unknown format {self.manifest.get('format')!r}, expected {FORMAT}")
        self.task: str = self.manifest["task"]
        self.keys: dict[str, str] = self.manifest["keys"]

    def __len__(self) -> int:
        return len(self.manifest["samples"])

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        record = self.manifest["samples"][index]
        i = record["index"]
        if self.manifest.get("files") == "npz":
            with np.load(self.root / f"{i:06d}.npz") as data:
                return {k: np.asarray(data[k]) for k in data.files}
        out: dict[str, np.ndarray] = {}
        for key, kind in self.keys.items():
            if kind == "scalar":
                out[key] = np.asarray(record["scalars"][key], np.float32)
            elif kind in ("image", "mask"):
                out[key] = readers.read_image(self.root / f"{i:06d}_{key}.png")
            elif kind == "stack":
                count = record["stack_lengths"][key]
                out[key] = np.stack([readers.read_image(self.root / f"{i:06d}_{key}_{j:02d}.png") for j in range(count)])
            else:
                out[key] = np.load(self.root / f"{i:06d}_{key}.npy")
        return out
