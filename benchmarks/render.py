"""Wall time and peak memory of ``defocus shallow-dof`` on 12 and 24 MP photos.

    python benchmarks/render.py [--sizes 12 24] [--radii 1 2 4] [--keep DIR]

Each case runs the real command in a fresh process (decode, render, grain, encode), timed
from outside; its peak resident memory comes from ``os.wait4`` (the child's own
``ru_maxrss``). The floor is a fresh process that only decodes and re-encodes the same JPEG
with Pillow. The photo is scikit-image's "coffee" (reserved: never a training texture)
upscaled to the target size; the depth is a synthetic portrait layout (a near subject
ellipse in front of a receding table and wall), so the render has layers on both sides of
the focus plane. Prints the Markdown table kept in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SIZES_MP = {12: (4242, 2828), 24: (6000, 4000)}
FOCUS_DEPTH = 0.8

_FLOOR = (
    "import io, sys\n"
    "from PIL import Image\n"
    "image = Image.open(sys.argv[1]); image.load()\n"
    "buffer = io.BytesIO(); image.save(buffer, format='JPEG', quality=95)\n"
)


def make_inputs(folder: Path, megapixels: int) -> tuple[Path, Path]:
    """Upscaled photo (JPEG, quality 95) and its depth (.npy) for one size."""
    import skimage.data  # the test extra; "coffee" is a reserved (never-trained-on) photo

    w, h = SIZES_MP[megapixels]
    photo = skimage.data.coffee().astype(np.float32) / 255.0
    big = cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC)
    image_path = folder / f"coffee_{megapixels}mp.jpg"
    Image.fromarray(np.clip(big * 255 + 0.5, 0, 255).astype(np.uint8)).save(image_path, quality=95)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = 0.35 * (yy / h)  # table recedes towards the top
    subject = ((yy / h - 0.55) / 0.35) ** 2 + ((xx / w - 0.55) / 0.32) ** 2 < 1.0
    depth[subject] = FOCUS_DEPTH
    depth_path = folder / f"coffee_{megapixels}mp_depth.npy"
    np.save(depth_path, cv2.GaussianBlur(depth, (0, 0), 2.0))
    return image_path, depth_path


def run_case(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in GB) of one fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {process.stderr.read().decode() if process.stderr else ''}")
    # ru_maxrss is in KiB on Linux.
    return wall, usage.ru_maxrss * 1024 / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 24], choices=sorted(SIZES_MP))
    parser.add_argument("--radii", type=float, nargs="+", default=[1.0, 2.0, 4.0], help="%% of the long side")
    parser.add_argument("--keep", type=Path, default=None, help="keep inputs and outputs in this folder")
    options = parser.parse_args()
    folder = options.keep or Path(tempfile.mkdtemp(prefix="defocus-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for megapixels in options.sizes:
        image_path, depth_path = make_inputs(folder, megapixels)
        wall, rss = run_case([sys.executable, "-c", _FLOOR, str(image_path)])
        rows.append((megapixels, "floor: Pillow JPEG decode + encode", wall, rss))
        for radius in options.radii:
            out = folder / f"out_{megapixels}mp_{radius:g}.jpg"
            args = [sys.executable, "-m", "defocus_cli", "shallow-dof", str(image_path), "--depth", str(depth_path),
                    "--focus-depth", str(FOCUS_DEPTH), "--blur-radius", f"{radius:g}%", "-o", str(out),
                    "--overwrite", "-q"]
            wall, rss = run_case(args)
            w, h = SIZES_MP[megapixels]
            # The far wall sits at D = 0, so its CoC is K * 0.8 px.
            rows.append((megapixels, f"shallow-dof, K = {radius:g}% ({radius / 100 * max(w, h):.0f} px)", wall, rss))
            print(f"{megapixels} MP, {radius:g}%: {wall:.1f} s, {rss:.2f} GB", file=sys.stderr)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}")
    print()
    print("| photo | case | wall time (s) | peak RSS (GB) |")
    print("|---|---|---:|---:|")
    for megapixels, case, wall, rss in rows:
        print(f"| {megapixels} MP | {case} | {wall:.1f} | {rss:.2f} |")


if __name__ == "__main__":
    main()
