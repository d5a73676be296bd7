"""Samples per second of each data-engine task, on one CPU core.

    python benchmarks/data_speed.py [--sizes 128 256] [--seconds 4]

Prints a Markdown table (the one in docs/DATA.md). Thread pools are pinned to one thread so
the figure is per core: N training workers give about N times the rate. The texture photos
are loaded once per process before timing (a worker pays that once, about 0.3 s).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402

from defocus_cli.data.dataset import SampleStream  # noqa: E402
from defocus_cli.data.photos import TEXTURE_PHOTOS, load_photo  # noqa: E402

CASES = [
    ("magnify", {}),
    ("aperture-stack", {}),
    ("refocus", {}),
    ("refocus", {"slice_indices": (0, 9)}),
    ("defocus-map", {}),
    ("syndof", {}),
    ("deeplens", {}),
]


def rate(task: str, size: int, seconds: float, params: dict) -> float:
    stream = SampleStream(task, size, seed=123, **params)
    stream[0]  # warm caches (kernels)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 3:
        stream[count + 1]
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    for name in TEXTURE_PHOTOS:
        load_photo(name)
    print(f"one core of {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"OpenCV {cv2.__version__}\n")
    print("| task | " + " | ".join(f"{s}² samples/s" for s in args.sizes) + " |")
    print("|---|" + "---:|" * len(args.sizes))
    for task, params in CASES:
        label = task + (" (2 of 10 slices)" if params else "")
        cells = [f"{rate(task, s, args.seconds, params):.1f}" for s in args.sizes]
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
