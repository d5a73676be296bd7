"""Readers for the real datasets the papers trained on, for users who have them.

Each reader returns float32 arrays in the project's conventions: images HxWx3 sRGB in [0, 1],
disparity D in [0, 1] (1 = nearest), defocus as CoC radius in pixels. Missing or unreadable
files raise :class:`~defocus_cli.errors.InputError` with the path in the message.

- Flowers light fields (Srinivasan et al. 2017; seeds 000, 001): one PNG per light field with
  14x14 views interleaved per pixel: pixel (y, x) of view (v, u) is at (y*14 + v, x*14 + u).
- SYNDOF (seed 002): ``image/`` and ``blur_map/`` with matching names; the blur map stores
  DMENet's Gaussian sigma x 10 (px) in its second channel, so CoC radius = 2 * sigma.
- CUHK blur detection: ``image/`` and ``gt/`` binary masks with matching names.
- Generic RGB-D folders: ``image/`` (or ``images/``, ``rgb/``) and ``depth/`` with matching
  stems, or one flat folder with ``NAME.jpg`` + ``NAME_depth.png|npy``. 16-bit PNG depth is
  value / 65535; ``.npy`` is read as is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from defocus_cli.errors import InputError
from defocus_cli.ops.color import linear_to_srgb, srgb_to_linear

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
FLOWERS_ANGULAR = 14


def read_image(path: str | Path) -> np.ndarray:
    """Read an 8- or 16-bit image as float32 in [0, 1]: HxWx3 RGB, or HxW if single-channel."""
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise InputError(f"{path}: cannot read image (missing, or not an image file)")
    scale = 65535.0 if array.dtype == np.uint16 else 255.0
    out = array.astype(np.float32) / scale
    if out.ndim == 3:
        out = cv2.cvtColor(out[..., :3], cv2.COLOR_BGR2RGB)
    return out


def write_image(path: str | Path, image: np.ndarray, bits: int = 16) -> None:
    """Write float [0, 1] HxW or HxWx3 (RGB) as an 8- or 16-bit PNG."""
    peak = 65535 if bits == 16 else 255
    dtype = np.uint16 if bits == 16 else np.uint8
    array = np.clip(np.rint(np.asarray(image, np.float64) * peak), 0, peak).astype(dtype)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), array):
        raise InputError(f"{path}: cannot write image")


def _stems(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in suffixes}


def _subfolder(root: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise InputError(f"{root}: no {what} folder (looked for {', '.join(n + '/' for n in names)})")


def _require_dir(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    return root


# --- Flowers light fields ---------------------------------------------------------------

def read_flowers_lightfield(path: str | Path, views: int = 7) -> np.ndarray:
    """The central ``views`` x ``views`` sub-aperture views of a Flowers light-field PNG.

    Returns float32 (views, views, H, W, 3) sRGB, indexed [v, u]. The corner views of the
    14x14 lenslet grid are clipped by the main lens, so only central ones are kept (the
    seeds use 3x3 to 9x9 for aperture stacks and 7x7 for focal stacks).
    """
    if not 1 <= views <= FLOWERS_ANGULAR:
        raise ValueError(f"views must be in 1..{FLOWERS_ANGULAR}, got {views}")
    raw = read_image(path)
    if raw.ndim == 2:
        raw = np.repeat(raw[..., None], 3, axis=2)
    h, w = raw.shape[0] // FLOWERS_ANGULAR, raw.shape[1] // FLOWERS_ANGULAR
    if h == 0 or w == 0 or raw.shape[0] % FLOWERS_ANGULAR or raw.shape[1] % FLOWERS_ANGULAR:
        raise InputError(f"{path}: a Flowers light field must be 14H x 14W pixels, got {raw.shape[:2]}")
    grid = raw.reshape(h, FLOWERS_ANGULAR, w, FLOWERS_ANGULAR, 3).transpose(1, 3, 0, 2, 4)
    start = (FLOWERS_ANGULAR - views) // 2
    return np.ascontiguousarray(grid[start:start + views, start:start + views])


def shift_sum(views: np.ndarray, grid: int | None = None, shift_px: float = 0.0) -> np.ndarray:
    """Refocus central ``grid`` x ``grid`` views by shift-and-sum (seed 001, Eq. 9), in linear light.

    View (v, u) is shifted by ``shift_px * (u - c, v - c)`` px (c the centre index) before
    averaging; ``shift_px`` moves the focus plane, ``grid`` sets the aperture (3 = narrow;
    5, 7, 9 = seed 000's m = 2, 3, 4). Returns HxWx3 sRGB float32.
    """
    n = views.shape[0]
    grid = n if grid is None else grid
    if not 1 <= grid <= n:
        raise ValueError(f"grid must be in 1..{n}, got {grid}")
    start = (n - grid) // 2
    centre = (grid - 1) / 2.0
    h, w = views.shape[2:4]
    acc = np.zeros((h, w, 3), np.float32)
    for v in range(grid):
        for u in range(grid):
            view = srgb_to_linear(views[start + v, start + u])
            if shift_px:
                m = np.float32([[1, 0, shift_px * (u - centre)], [0, 1, shift_px * (v - centre)]])
                view = cv2.warpAffine(view, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
            acc += view
    return np.clip(linear_to_srgb(acc / (grid * grid)), 0, 1)


def flowers_aperture_stack(views: np.ndarray, shift_px: float = 0.0) -> dict[str, np.ndarray]:
    """Seed 000's stack: narrow (3x3 views) and wide images (5x5, 7x7, 9x9 = m 2, 3, 4), same focus."""
    if views.shape[0] < 9:
        raise ValueError("an aperture stack needs the central 9x9 views (read with views=9 or more)")
    wide = np.stack([shift_sum(views, g, shift_px) for g in (5, 7, 9)])
    return {"narrow": shift_sum(views, 3, shift_px), "wide": wide, "m": np.asarray([2, 3, 4], np.float32),
            "all_in_focus": views[views.shape[0] // 2, views.shape[1] // 2].astype(np.float32)}


def flowers_focal_stack(views: np.ndarray, s_max: float = 1.5, n_slices: int = 10) -> dict[str, np.ndarray]:
    """A focal stack with shift parameters linear in [-s_max, +s_max] (seed 001 §4.1), using all given views."""
    shifts = np.linspace(-s_max, s_max, n_slices).astype(np.float32)
    slices = np.stack([shift_sum(views, None, float(s)) for s in shifts])
    return {"slices": slices, "shifts_px": shifts,
            "all_in_focus": views[views.shape[0] // 2, views.shape[1] // 2].astype(np.float32)}


def iter_flowers(root: str | Path, views: int = 7) -> Iterator[tuple[Path, np.ndarray]]:
    """(path, views) for every PNG light field under ``root``, sorted by name."""
    for path in sorted(_require_dir(root).rglob("*.png")):
        yield path, read_flowers_lightfield(path, views)


# --- SYNDOF ----------------------------------------------------------------------------

@dataclass
class SyndofItem:
    name: str
    image: np.ndarray
    coc_radius_px: np.ndarray  # = 2 * DMENet sigma

    @property
    def sigma_px(self) -> np.ndarray:
        return self.coc_radius_px / 2.0

    def __iter__(self) -> Iterator[np.ndarray]:
        """Unpacks as ``image, coc_radius_px``."""
        return iter((self.image, self.coc_radius_px))


def read_syndof(root: str | Path) -> list[SyndofItem]:
    """Read a SYNDOF folder (``image/`` + ``blur_map/``); pairs by file stem."""
    root = _require_dir(root)
    images = _stems(_subfolder(root, ("image", "images"), "image"))
    maps = _stems(_subfolder(root, ("blur_map",), "blur_map"))
    if not images:
        raise InputError(f"{root}: no images in image/")
    items = []
    for stem, path in images.items():
        if stem not in maps:
            raise InputError(f"{root}: no blur_map for image {path.name}")
        raw = cv2.imread(str(maps[stem]), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise InputError(f"{maps[stem]}: cannot read blur map")
        channel = raw[..., 1] if raw.ndim == 3 else raw  # cv2 BGR: the second channel either way
        sigma = channel.astype(np.float32) / 10.0
        items.append(SyndofItem(stem, read_image(path), 2.0 * sigma))
    return items


def write_syndof_blur_map(path: str | Path, coc_radius_px: np.ndarray) -> None:
    """Write a CoC radius map in SYNDOF's layout (sigma x 10 in every channel, 8-bit)."""
    sigma10 = np.clip(np.rint(np.asarray(coc_radius_px) / 2.0 * 10.0), 0, 255).astype(np.uint8)
    if not cv2.imwrite(str(path), np.dstack([sigma10] * 3)):
        raise InputError(f"{path}: cannot write blur map")


# --- CUHK blur detection ---------------------------------------------------------------

@dataclass
class CuhkItem:
    name: str
    image: np.ndarray
    blurred: np.ndarray  # HxW float32, 1 = blurred (out of focus), 0 = sharp

    def __iter__(self) -> Iterator[np.ndarray]:
        """Unpacks as ``image, blurred``."""
        return iter((self.image, self.blurred))


def read_cuhk(root: str | Path, white_is_sharp: bool = True, defocus_only: bool = False) -> list[CuhkItem]:
    """Read CUHK blur detection (``image/`` + ``gt/``): image and binary blur mask by stem.

    ``white_is_sharp``: the masks mark the sharp region white (the usual blur-detection
    convention); pass False for masks that mark the blurred region. ``defocus_only`` keeps
    the ``out_of_focus*`` images and drops the motion-blurred ones.
    """
    root = _require_dir(root)
    images = _stems(_subfolder(root, ("image", "images"), "image"))
    masks = _stems(_subfolder(root, ("gt", "mask", "masks"), "gt"))
    items = []
    for stem, path in images.items():
        if defocus_only and not stem.lower().startswith("out_of_focus"):
            continue
        if stem not in masks:
            raise InputError(f"{root}: no mask for image {path.name}")
        mask = read_image(masks[stem])
        mask = mask.mean(axis=2) if mask.ndim == 3 else mask
        white = mask >= 0.5
        items.append(CuhkItem(stem, read_image(path), (~white if white_is_sharp else white).astype(np.float32)))
    if not items:
        raise InputError(f"{root}: no images found")
    return items


# --- Generic RGB-D ---------------------------------------------------------------------

@dataclass
class RgbdItem:
    name: str
    image_path: Path
    depth_path: Path

    def load(self, depth_kind: str = "disparity") -> tuple[np.ndarray, np.ndarray]:
        """(image HxWx3 sRGB, disparity HxW in [0, 1]); ``depth_kind`` "metric" converts 1/z, normalized."""
        image = read_image(self.image_path)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if self.depth_path.suffix.lower() == ".npy":
            try:
                depth = np.load(self.depth_path).astype(np.float32)
            except (OSError, ValueError) as error:
                raise InputError(f"{self.depth_path}: cannot read depth ({error})") from None
        else:
            depth = read_image(self.depth_path)
            depth = depth.mean(axis=2) if depth.ndim == 3 else depth
        if depth.ndim != 2:
            raise InputError(f"{self.depth_path}: depth must be a single-channel HxW map, got shape {depth.shape}")
        if depth.shape != image.shape[:2]:
            depth = cv2.resize(depth, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        return image, to_disparity(depth, depth_kind)


def to_disparity(depth: np.ndarray, depth_kind: str = "disparity") -> np.ndarray:
    """Normalized inverse depth from a disparity map (clipped to [0, 1]) or metric depth (1/z, min-max)."""
    if depth_kind == "disparity":
        return np.clip(depth, 0, 1).astype(np.float32)
    if depth_kind != "metric":
        raise ValueError(f"depth_kind must be 'disparity' or 'metric', got {depth_kind!r}")
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        raise InputError("metric depth has no positive values")
    inv = np.zeros_like(depth, dtype=np.float32)
    inv[valid] = 1.0 / depth[valid]
    lo, hi = float(inv[valid].min()), float(inv[valid].max())
    return np.where(valid, (inv - lo) / max(hi - lo, 1e-12), 0.0).astype(np.float32)


def read_rgbd_folder(root: str | Path) -> list[RgbdItem]:
    """Pair images with depth maps (see the module docstring for the two layouts), sorted by name."""
    root = _require_dir(root)
    depth_suffixes = (".png", ".npy", ".tif", ".tiff")
    image_dir = next((root / n for n in ("image", "images", "rgb") if (root / n).is_dir()), None)
    items: list[RgbdItem] = []
    if image_dir is not None:
        depths = _stems(_subfolder(root, ("depth", "depths", "disparity"), "depth"), depth_suffixes)
        for stem, path in _stems(image_dir).items():
            if stem not in depths:
                raise InputError(f"{root}: no depth map for image {path.name}")
            items.append(RgbdItem(stem, path, depths[stem]))
    else:
        files = _stems(root, IMAGE_SUFFIXES + (".npy",))
        for stem, path in files.items():
            if stem.endswith("_depth") or path.suffix.lower() == ".npy":
                continue
            depth = files.get(stem + "_depth")
            if depth is None:
                raise InputError(f"{root}: no depth map {stem}_depth.png or .npy for {path.name}")
            items.append(RgbdItem(stem, path, depth))
    if not items:
        raise InputError(f"{root}: no RGB-D pairs found (image/ + depth/, or NAME.jpg + NAME_depth.png)")
    return items
