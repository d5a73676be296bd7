"""Write the before/after galleries in docs/gallery/ by running the real commands.

Photos: scikit-image's reserved photos (chelsea, coffee, rocket), which are never training
textures. Each gallery is one sheet, one photo per row, a caption above every tile:

- ``refocus.jpg``: input, ``deblur``, ``refocus --delta -5`` (nearer) and ``--delta 5`` (farther);
- ``depth.jpg``: input, ``depth --colorize``, ``shallow-dof`` focused near and far at K = 2 %,
  and auto-focused at K = 4 %, with a single focus plane and with ``--focus-range 0.3``, all
  with the predicted depth;
- ``magnify.jpg``: input, ``defocus-map --colorize``, ``magnify -m 2`` and ``-m 4``.

    python docs/make_gallery.py [--only refocus,depth,magnify] [-o docs/gallery]

Every command runs in its own process, with the bundled models, as a user would run it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

PHOTOS = ("chelsea", "coffee", "rocket")
TILE_HEIGHT = 240
CAPTION_PX = 26

Step = tuple[str, Callable[[Path, Path], list[str]], str]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "defocus_cli", *args]


GALLERIES: dict[str, list[Step]] = {
    "refocus": [
        ("deblur", lambda src, out: _cli("deblur", str(src), "-o", str(out)), "jpg"),
        ("refocus --delta -5 (nearer)", lambda src, out: _cli("refocus", str(src), "--delta", "-5", "-o", str(out)), "jpg"),
        ("refocus --delta 5 (farther)", lambda src, out: _cli("refocus", str(src), "--delta", "5", "-o", str(out)), "jpg"),
    ],
    "depth": [
        ("depth --colorize", lambda src, out: _cli("depth", str(src), "--colorize", "-o", str(out)), "png"),
        ("shallow-dof, focus near, K 2%",
         lambda src, out: _cli("shallow-dof", str(src), "--focus-depth", "0.9", "--blur-radius", "2%", "-o", str(out)), "jpg"),
        ("shallow-dof, focus far, K 2%",
         lambda src, out: _cli("shallow-dof", str(src), "--focus-depth", "0.1", "--blur-radius", "2%", "-o", str(out)), "jpg"),
        ("shallow-dof, auto focus, K 4%",
         lambda src, out: _cli("shallow-dof", str(src), "--blur-radius", "4%", "-o", str(out)), "jpg"),
        ("auto focus, K 4%, focus range 0.3",
         lambda src, out: _cli("shallow-dof", str(src), "--blur-radius", "4%", "--focus-range", "0.3", "-o", str(out)),
         "jpg"),
    ],
    "magnify": [
        ("defocus-map --colorize", lambda src, out: _cli("defocus-map", str(src), "--colorize", "-o", str(out)), "png"),
        ("magnify -m 2", lambda src, out: _cli("magnify", str(src), "-m", "2", "-o", str(out)), "jpg"),
        ("magnify -m 4", lambda src, out: _cli("magnify", str(src), "-m", "4", "-o", str(out)), "jpg"),
    ],
}


def _photo(name: str, folder: Path) -> Path:
    import skimage.data

    rgb = np.asarray(getattr(skimage.data, name)())[..., :3]
    path = folder / f"{name}.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def _tile(path: Path, caption: str) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"make_gallery: {path} was not written")
    h, w = image.shape[:2]
    image = cv2.resize(image, (round(w * TILE_HEIGHT / h), TILE_HEIGHT), interpolation=cv2.INTER_AREA)
    band = np.full((CAPTION_PX, image.shape[1], 3), 255, np.uint8)
    cv2.putText(band, caption, (6, CAPTION_PX - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, image], axis=0)


def _row(tiles: list[np.ndarray]) -> np.ndarray:
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for tile in tiles:
        parts += [tile, gap]
    return np.concatenate(parts[:-1], axis=1)


def make_gallery(name: str, out_dir: Path, work: Path) -> Path:
    rows = []
    for photo in PHOTOS:
        src = _photo(photo, work)
        tiles = [_tile(src, f"{photo}: input")]
        for caption, command, ext in GALLERIES[name]:
            out = work / f"{photo}-{name}-{len(tiles)}.{ext}"
            done = subprocess.run(command(src, out), capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"make_gallery: {' '.join(command(src, out)[2:])} failed: {done.stderr.strip()}")
            tiles.append(_tile(out, caption))
        rows.append(_row(tiles))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path = out_dir / f"{name}.jpg"
    cv2.imwrite(str(path), np.concatenate(rows, axis=0), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(GALLERIES), help="comma-separated galleries to make")
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent / "gallery")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(GALLERIES))
    if unknown:
        parser.error(f"unknown gallery {', '.join(unknown)} (one of {', '.join(GALLERIES)})")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            print(make_gallery(name, args.out, Path(tmp)))


if __name__ == "__main__":
    main()
