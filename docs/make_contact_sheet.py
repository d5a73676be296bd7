"""Write docs/data_contact_sheet.png: example synthetic scenes and their maps.

Each of the first rows is one seed. Columns: the all-in-focus centre view, a light-field
render focused on a near subject, the same focused far, the magnify pair's wide image (m = 3),
the visible disparity (near = bright) and the unsigned CoC radius of the near-focused render.
The last two rows are task samples: a DeepLens composite (image, target render, depth,
corrupted depth, segmentation) and a SYNDOF-style sample (sharp, defocused, disparity, CoC).

    python docs/make_contact_sheet.py [--rows 6] [--size 160] [--seed 0] [-o docs/data_contact_sheet.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from defocus_cli.data.lightfield import render
from defocus_cli.data.scene import random_scene
from defocus_cli.data.tasks import deeplens_sample, syndof_sample
from defocus_cli.ops.metrics import to_uint8

COLUMNS = ["all in focus", "focus near", "focus far", "m = 3 (of near)", "disparity", "|CoC| px (near)"]


def _colormap(values: np.ndarray, vmax: float) -> np.ndarray:
    scaled = to_uint8(np.clip(values / max(vmax, 1e-6), 0, 1))
    return cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)


def row(seed: int, size: int) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    scene = random_scene(rng, (size, size))
    k = size / 128 * 5.0
    lo, hi = scene.disparity_range()
    near = render(scene, hi - 0.05 * (hi - lo), k)
    far = render(scene, lo, k)
    wide = render(scene, hi - 0.05 * (hi - lo), 3 * k)
    coc = np.abs(near.coc_radius_px)
    return [to_uint8(near.all_in_focus), to_uint8(near.image), to_uint8(far.image), to_uint8(wide.image),
            _colormap(near.disparity, 1.0), _colormap(coc, 12.0 * size / 128)]


def task_rows(seed: int, size: int) -> list[list[np.ndarray]]:
    blank = np.full((size, size, 3), 255, np.uint8)
    lens = deeplens_sample([seed, 3], size, blur_radius_px=(size / 128 * 6, size / 128 * 8))
    lens_row = [to_uint8(lens["image"]), to_uint8(lens["target"]), _colormap(lens["depth"], 1.0),
                _colormap(lens["depth_corrupted"], 1.0), to_uint8(np.repeat(lens["segmentation"][..., None], 3, 2)), blank]
    dof = syndof_sample([seed, 4], size, max_coc_radius_px=size / 128 * 8)
    dof_row = [to_uint8(dof["sharp"]), to_uint8(dof["image"]), blank, blank, _colormap(dof["disparity"], 1.0),
               _colormap(dof["coc_radius_px"], 12.0 * size / 128)]
    return [lens_row, dof_row]


TASK_LABELS = [["deeplens: image", "target", "depth", "depth corrupted", "segmentation", ""],
               ["syndof: sharp", "defocused", "", "", "disparity", "|CoC| px"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("data_contact_sheet.png"))
    args = parser.parse_args()
    gap, header = 4, 22
    tiles = [row(args.seed + r, args.size) for r in range(args.rows)]
    tasks = task_rows(args.seed, args.size)
    n_cols = len(COLUMNS)
    height = header + args.rows * (args.size + gap) + len(tasks) * (args.size + gap + header)
    width = n_cols * (args.size + gap) - gap
    sheet = np.full((height, width, 3), 255, np.uint8)
    for c, name in enumerate(COLUMNS):
        cv2.putText(sheet, name, (c * (args.size + gap) + 4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for r, tiles_row in enumerate(tiles):
        for c, tile in enumerate(tiles_row):
            y, x = header + r * (args.size + gap), c * (args.size + gap)
            sheet[y:y + args.size, x:x + args.size] = tile
    for t, (tiles_row, labels) in enumerate(zip(tasks, TASK_LABELS, strict=True)):
        y = header + args.rows * (args.size + gap) + t * (args.size + gap + header)
        for c, (tile, name) in enumerate(zip(tiles_row, labels, strict=True)):
            x = c * (args.size + gap)
            cv2.putText(sheet, name, (x + 4, y + 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
            sheet[y + header:y + header + args.size, x:x + args.size] = tile
    cv2.imwrite(str(args.output), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
