"""Task samplers: one training example per call, deterministic by seed, numpy only.

Every sampler is ``fn(seed_or_rng, size, **params) -> dict[str, np.ndarray]``. Images are
float32 HxWx3 sRGB in [0, 1]; maps float32 HxW; scalars 0-d float32 arrays. ``size`` is an
int (square) or (H, W). Disparity D is normalized inverse depth, 1 = nearest.

=====================  ======================================================================
sampler                keys
=====================  ======================================================================
magnify_sample         narrow, wide, m, all_in_focus, disparity, coc_radius_px (signed, narrow)
aperture_stack         narrow, wide (3xHxWx3 for m = 2, 3, 4), m (3,), all_in_focus, disparity,
                       coc_radius_px
focal_stack_sample     slices (10xHxWx3, near to far), all_in_focus, disparity,
                       focus_disparities (10,), blur_radius_px [, slice_indices]
defocus_map_sample     image, all_in_focus, disparity, coc_radius_px (unsigned), coc_signed_px
syndof_sample          image, sharp, coc_radius_px (unsigned; DMENet's sigma = radius / 2),
                       disparity, focus_disparity, blur_radius_px
deeplens_sample        image (all in focus), depth, depth_corrupted, focus_depth,
                       blur_radius_px, target, segmentation
depth_scene_sample     image (all in focus), depth, segmentation
=====================  ======================================================================
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from defocus_cli.data import shapes, textures
from defocus_cli.data.lightfield import Render, render
from defocus_cli.data.scene import Layer, Scene, random_scene
from defocus_cli.ops.color import linear_to_srgb, srgb_to_linear

SeedOrRng = int | np.random.Generator | np.random.SeedSequence | tuple[int, ...] | list[int]
FOCAL_STACK_SLICES = 10
APERTURE_STACK_M = (2.0, 3.0, 4.0)
#: Blur radius K (px) of the narrow image of magnify samples. Focus lies inside the scene, so
#: the largest CoC is a fraction of K: about 1-3 px narrow, up to ~12 px at m = 4, a blur
#: that reads as background blur at the working resolution of a photo.
MAGNIFY_BLUR_RADIUS_PX = (1.5, 5.0)


def as_rng(seed_or_rng: SeedOrRng) -> np.random.Generator:
    """A Generator from a seed, a seed tuple like ``(seed, index)``, or a Generator (used as is)."""
    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)


def as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """(H, W) from an int or a pair; at least 8 px each."""
    h, w = (size, size) if isinstance(size, int | np.integer) else (int(size[0]), int(size[1]))
    if h < 8 or w < 8:
        raise ValueError(f"size must be at least 8x8 px, got {(h, w)}")
    return int(h), int(w)


def _scalar(value: float) -> np.ndarray:
    return np.asarray(value, np.float32)


def _pick_focus(rng: np.random.Generator, scene: Scene, subject_prob: float = 0.6) -> float:
    """Focus on an object layer (a subject, as a photographer would) or anywhere in depth."""
    objects = [layer for layer in scene.layers if layer.name in ("object", "flower")]
    if objects and rng.random() < subject_prob:
        return float(objects[int(rng.integers(0, len(objects)))].disparity.flat[0])
    lo, hi = scene.disparity_range()
    return float(rng.uniform(lo, hi))


def magnify_sample(seed_or_rng: SeedOrRng, size: int | tuple[int, int], *, m: float | None = None,
                   m_range: tuple[float, float] = (1.0, 4.0),
                   blur_radius_px: tuple[float, float] = MAGNIFY_BLUR_RADIUS_PX, **scene_cfg) -> dict[str, np.ndarray]:
    """A narrow-aperture image and the same view through an m times wider aperture (seed 000 §3.2).

    ``narrow`` has blur radius K ~ U(blur_radius_px); ``wide`` has m*K, same focus and view, so
    every CoC radius r becomes m*r. ``m`` is drawn from U(m_range) unless given; m = 1 returns
    ``wide`` identical to ``narrow``.
    """
    rng = as_rng(seed_or_rng)
    scene = random_scene(rng, as_size(size), **scene_cfg)
    k = float(rng.uniform(*blur_radius_px))
    focus = _pick_focus(rng, scene)
    mag = float(rng.uniform(*m_range)) if m is None else float(m)
    if not 1.0 <= mag <= 4.0:
        raise ValueError(f"m must be in [1, 4], got {mag}")
    narrow = render(scene, focus, k)
    wide = narrow.image.copy() if mag == 1.0 else render(scene, focus, mag * k).image
    return {"narrow": narrow.image, "wide": wide, "m": _scalar(mag), "all_in_focus": narrow.all_in_focus,
            "disparity": narrow.disparity, "coc_radius_px": narrow.coc_radius_px,
            "blur_radius_px": _scalar(k), "focus_disparity": _scalar(focus)}


def aperture_stack(seed_or_rng: SeedOrRng, size: int | tuple[int, int], *,
                   ms: tuple[float, ...] = APERTURE_STACK_M,
                   blur_radius_px: tuple[float, float] = MAGNIFY_BLUR_RADIUS_PX, **scene_cfg) -> dict[str, np.ndarray]:
    """The seed's fixed stacks: one narrow image and wide images at m = 2, 3, 4 (``wide`` is MxHxWx3)."""
    rng = as_rng(seed_or_rng)
    scene = random_scene(rng, as_size(size), **scene_cfg)
    k = float(rng.uniform(*blur_radius_px))
    focus = _pick_focus(rng, scene)
    narrow = render(scene, focus, k)
    wide = np.stack([narrow.image if m == 1.0 else render(scene, focus, m * k).image for m in ms])
    return {"narrow": narrow.image, "wide": wide, "m": np.asarray(ms, np.float32),
            "all_in_focus": narrow.all_in_focus, "disparity": narrow.disparity,
            "coc_radius_px": narrow.coc_radius_px, "blur_radius_px": _scalar(k), "focus_disparity": _scalar(focus)}


def focal_stack_sample(seed_or_rng: SeedOrRng, size: int | tuple[int, int], *,
                       blur_radius_px: tuple[float, float] = (4.0, 10.0),
                       n_slices: int = FOCAL_STACK_SLICES, slice_indices: tuple[int, ...] | None = None,
                       **scene_cfg) -> dict[str, np.ndarray]:
    """A 10-slice focal stack spanning the visible disparity range, nearest focus first (seed 001 §4.1).

    Slice i is focused at ``focus_disparities[i]``, evenly spaced from the largest visible D
    (nearest) to the smallest (farthest). ``slice_indices`` renders only those slices (in that
    order; ``focus_disparities`` still lists all ``n_slices``), e.g. an input/target pair for
    on-the-fly refocus training at a fraction of the cost.
    """
    rng = as_rng(seed_or_rng)
    scene = random_scene(rng, as_size(size), **scene_cfg)
    k = float(rng.uniform(*blur_radius_px))
    return focal_stack(scene, k, n_slices, slice_indices)


def focal_stack(scene: Scene, blur_radius_px: float, n_slices: int = FOCAL_STACK_SLICES,
                slice_indices: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """The focal stack of a given scene (see :func:`focal_stack_sample` for the keys)."""
    centre = render(scene, 0.0, 0.0)
    near, far = float(centre.disparity.max()), float(centre.disparity.min())
    focus = np.linspace(near, far, n_slices).astype(np.float32)
    chosen = tuple(range(n_slices)) if slice_indices is None else tuple(int(i) for i in slice_indices)
    if any(not 0 <= i < n_slices for i in chosen):
        raise ValueError(f"slice_indices must be in 0..{n_slices - 1}, got {chosen}")
    slices = np.stack([render(scene, float(focus[i]), blur_radius_px).image for i in chosen])
    out = {"slices": slices, "all_in_focus": centre.all_in_focus, "disparity": centre.disparity,
           "focus_disparities": focus, "blur_radius_px": _scalar(blur_radius_px)}
    if slice_indices is not None:
        out["slice_indices"] = np.asarray(chosen, np.float32)
    return out


def defocus_map_sample(seed_or_rng: SeedOrRng, size: int | tuple[int, int], *,
                       max_coc_radius_px: float = 10.0, **scene_cfg) -> dict[str, np.ndarray]:
    """A light-field render with random focus and aperture, labelled with its unsigned CoC radius."""
    rng = as_rng(seed_or_rng)
    scene = random_scene(rng, as_size(size), **scene_cfg)
    lo, hi = scene.disparity_range()
    focus = _pick_focus(rng, scene, 0.5)
    k = float(rng.uniform(0.0, max_coc_radius_px / max(hi - focus, focus - lo, 1e-3)))
    out = render(scene, focus, k)
    return {"image": out.image, "all_in_focus": out.all_in_focus, "disparity": out.disparity,
            "coc_radius_px": np.abs(out.coc_radius_px), "coc_signed_px": out.coc_radius_px,
            "focus_disparity": _scalar(focus), "blur_radius_px": _scalar(k)}


def layered_gaussian_blur(image: np.ndarray, disparity: np.ndarray, focus_disparity: float,
                          blur_radius_px: float, max_layers: int = 350, step_px: float = 0.25) -> np.ndarray:
    """SYNDOF's renderer (seed 002 §3.3): depth layers, each Gaussian-blurred with sigma = CoC radius / 2
    (image and mask), alpha-blended back to front in linear light. sRGB in, sRGB out."""
    linear = srgb_to_linear(image)
    lo, hi = float(disparity.min()), float(disparity.max())
    n = int(np.clip(math.ceil(blur_radius_px * (hi - lo) / step_px) + 1, 1, max_layers))
    index = np.zeros(disparity.shape, np.int32) if n == 1 else np.rint((disparity - lo) / (hi - lo) * (n - 1)).astype(np.int32)
    acc = np.zeros(image.shape[:2] + (4,), np.float32)
    for i in np.unique(index):  # back (small D) to front
        d = lo if n == 1 else lo + (hi - lo) * i / (n - 1)
        mask = (index == i).astype(np.float32)
        layer = np.concatenate([linear * mask[..., None], mask[..., None]], axis=2)
        sigma = blur_radius_px * abs(d - focus_disparity) / 2.0
        if sigma > 0.05:
            layer = cv2.GaussianBlur(layer, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
        acc = acc * (1 - layer[..., 3:4]) + layer
    # normalize by coverage: the hidden surface behind a blurred edge is unknown (no matting)
    out = acc[..., :3] / np.maximum(acc[..., 3:4], 1e-6)
    return np.clip(linear_to_srgb(np.clip(out, 0, 1)), 0, 1).astype(np.float32)


def syndof_sample(seed_or_rng: SeedOrRng, size: int | tuple[int, int] | None = None, *,
                  image: np.ndarray | None = None, disparity: np.ndarray | None = None,
                  max_coc_radius_px: float = 10.0, **scene_cfg) -> dict[str, np.ndarray]:
    """SYNDOF-style defocus (seed 002 §3) of an RGB-D pair, or of a synthetic scene's centre view.

    Focus D_f ~ U[D_min, D_max]; the aperture K ~ U[0, K_up] with K_up the largest value whose CoC
    stays within ``max_coc_radius_px`` (the seed's c_max, Eq. 2, as a radius: c_max = 28 px
    diameter there). Label ``coc_radius_px = K |D - D_f|``; DMENet's Gaussian sigma is radius / 2.
    With ``image``/``disparity`` given (sRGB HxWx3, D HxW), ``size`` crops them at random.
    """
    rng = as_rng(seed_or_rng)
    if image is None:
        scene = random_scene(rng, as_size(size if size is not None else 128), **scene_cfg)
        centre = render(scene, 0.0, 0.0)
        sharp, disp = centre.all_in_focus, centre.disparity
    else:
        if disparity is None or disparity.shape != image.shape[:2]:
            raise ValueError("syndof_sample needs a disparity map of the image's height and width")
        sharp, disp = random_crop(rng, [np.asarray(image, np.float32), np.asarray(disparity, np.float32)], size)
    lo, hi = float(disp.min()), float(disp.max())
    focus = float(rng.uniform(lo, hi))
    k_up = max_coc_radius_px / max(hi - focus, focus - lo, 1e-3)
    k = float(rng.uniform(0.0, k_up))
    blurred = layered_gaussian_blur(sharp, disp, focus, k)
    return {"image": blurred, "sharp": sharp, "coc_radius_px": (k * np.abs(disp - focus)).astype(np.float32),
            "disparity": disp, "focus_disparity": _scalar(focus), "blur_radius_px": _scalar(k)}


def random_crop(rng: np.random.Generator, arrays: list[np.ndarray], size: int | tuple[int, int] | None) -> list[np.ndarray]:
    """The same random crop of each array (resizing down first when smaller than ``size``)."""
    if size is None:
        return arrays
    th, tw = as_size(size)
    h, w = arrays[0].shape[:2]
    if h < th or w < tw:
        f = max(th / h, tw / w)
        nh, nw = math.ceil(h * f), math.ceil(w * f)
        arrays = [cv2.resize(a, (nw, nh), interpolation=cv2.INTER_LINEAR if a.ndim == 3 else cv2.INTER_NEAREST)
                  for a in arrays]
        h, w = nh, nw
    y0, x0 = int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1))
    return [np.ascontiguousarray(a[y0:y0 + th, x0:x0 + tw]) for a in arrays]


def corrupt_depth(rng: np.random.Generator, background: np.ndarray, planes: list[tuple[np.ndarray, float]],
                  max_px: int) -> np.ndarray:
    """Rebuild a depth map with each foreground mask randomly dilated or eroded by up to ``max_px``."""
    depth = background.copy()
    for mask, d in planes:
        r = int(rng.integers(1, max(max_px, 1) + 1))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        hard = (mask >= 0.5).astype(np.uint8)
        hard = cv2.dilate(hard, kernel) if rng.random() < 0.5 else cv2.erode(hard, kernel)
        depth[hard > 0] = d
    return depth.astype(np.float32)


def _composite_scene(rng: np.random.Generator, size: tuple[int, int]) -> tuple[Scene, np.ndarray, list[tuple[np.ndarray, float]]]:
    """The 3-plane scene of :func:`deeplens_sample`: (scene, background D, [(mask, D)] of the objects)."""
    h, w = size
    ones = np.ones((h, w), np.float32)
    if rng.random() < 0.4:
        bg_d = np.zeros((h, w), np.float32)
    else:
        b0 = float(rng.uniform(0.1, 0.5))
        b1 = float(rng.uniform(0.0, b0))
        if rng.random() < 0.5:
            ramp = np.linspace(b0, b1, w, dtype=np.float32)[None, :].repeat(h, 0)
        else:
            ramp = np.linspace(b1, b0, h, dtype=np.float32)[:, None].repeat(w, 1)  # bottom nearer
        bg_d = ramp if rng.random() < 0.5 else ramp[:, ::-1].copy()
    background = textures.surface_texture(rng, (h, w))
    if rng.random() < 0.5:
        background = textures.add_highlights(rng, background, ones, int(rng.integers(3, 10)))
    layers = [Layer(background, ones, bg_d, "background", opaque=True)]
    f1 = float(rng.uniform(float(bg_d.max()) + 0.05, 0.85))
    f0 = float(rng.uniform(f1 + 0.05, 1.0))
    planes = []
    for d in (f1, f0):
        alpha = shapes.random_shape(rng, (h, w), rng.uniform(0.2, 0.35))
        color = textures.random_texture(rng, (h, w), photo_prob=0.8)
        layers.append(Layer(color, alpha, np.full((h, w), d, np.float32), "object"))
        planes.append((alpha, d))
    return Scene(layers, (h, w)), bg_d, planes


def _object_mask(planes: list[tuple[np.ndarray, float]]) -> np.ndarray:
    return np.clip(sum((a >= 0.5).astype(np.float32) for a, _ in planes), 0, 1).astype(np.float32)


def deeplens_sample(seed_or_rng: SeedOrRng, size: int | tuple[int, int], *,
                    blur_radius_px: tuple[float, float] = (2.0, 10.0)) -> dict[str, np.ndarray]:
    """A DeepLens-style 3-plane composite (seed 003 §4.2): background + middle + front object.

    Background D is 0 or a smooth ramp b0 > b1 (horizontal or bottom-to-top); the objects sit at
    constant f1 < f0 in front of it. ``target`` is the light-field render at a random focus and
    aperture, ``depth_corrupted`` the depth with the foreground masks dilated or eroded.
    """
    rng = as_rng(seed_or_rng)
    h, w = as_size(size)
    scene, bg_d, planes = _composite_scene(rng, (h, w))
    f1, f0 = planes[0][1], planes[1][1]
    focus = float(rng.uniform(0.0, 1.0)) if rng.random() < 0.5 else float(rng.choice([f0, f1, float(bg_d.mean())]))
    k = float(rng.uniform(*blur_radius_px))
    out = render(scene, focus, k)
    corrupted = corrupt_depth(rng, bg_d, planes, max(1, min(h, w) // 32))
    return {"image": out.all_in_focus, "depth": out.disparity, "depth_corrupted": corrupted,
            "focus_depth": _scalar(focus), "blur_radius_px": _scalar(k), "target": out.image,
            "segmentation": _object_mask(planes)}


#: Share of :func:`depth_scene_sample` items that are the paper's 3-plane composites; the
#: rest are photographic scenes (sky, perspective ground, objects standing on it).
DEPTH_COMPOSITE_SHARE = 0.25
#: Share of the photographic items that are close-ups: one subject filling much of the frame.
#: Off by default: fine-tuning the shipped depth model on 30 % close-ups lowered its Spearman
#: correlation on the real Middlebury photo from 0.67 to 0.39 (docs/MODELS.md).
DEPTH_CLOSEUP_SHARE = 0.0
#: Share of the photographic items photographed with a shallow depth of field focused on the
#: nearest subject, as real photos often are: the blur that grows behind the subject is a depth
#: cue an all-in-focus render lacks. Off by default.
DEPTH_DOF_SHARE = 0.0
#: CoC radius (px per unit of inverse depth, at the sample's size) of those shallow-DoF items.
DEPTH_DOF_BLUR_PX = (1.0, 6.0)


def _closeup_scene(rng: np.random.Generator, size: tuple[int, int]) -> tuple[Scene, np.ndarray]:
    """A close-up, as portraits and product shots are framed: a photo-textured subject that
    fills 30-80 % of the frame, rounded in depth (nearest at its middle), often cut by the
    bottom edge, in front of a far wall or sky. Returns the scene and the subject's mask."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d_far = float(rng.uniform(0.0, 0.35))
    far = textures.surface_texture(rng, size) if rng.random() < 0.6 else srgb_to_linear(textures.sky_texture(rng, size))
    far_d = np.full(size, d_far, np.float32)
    if rng.random() < 0.5:  # a slanted wall
        far_d = np.clip(d_far + rng.uniform(-0.15, 0.15) * (xx / w - 0.5), 0.0, 1.0).astype(np.float32)
    layers = [Layer(far, np.ones(size, np.float32), far_d, "background", opaque=True)]
    alpha = shapes.blob(rng, size, float(rng.uniform(0.35, 0.6)))
    if rng.random() < 0.6:  # a bust or a body: the subject continues below the frame
        rows = np.nonzero(alpha.max(axis=1) > 0.5)[0]
        if rows.size:
            shift = h - 1 - int(rows[-1]) + int(rng.integers(0, max(1, h // 4)))
            alpha = np.roll(alpha, shift, axis=0)
            alpha[:shift] = 0.0
    mask = (alpha >= 0.5).astype(np.float32)
    if mask.any():
        cy, cx = (float(v.mean()) for v in np.nonzero(mask))
    else:
        cy, cx = h / 2, w / 2
    radius = 0.5 * max(h, w)
    d_near = float(rng.uniform(max(d_far + 0.3, 0.6), 1.0))
    relief = float(rng.uniform(0.05, 0.2))
    subject_d = np.clip(d_near - relief * (((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2), d_far + 0.1, 1.0)
    color = textures.random_texture(rng, size, photo_prob=0.85)
    gy, gx = np.gradient(cv2.GaussianBlur(alpha, (0, 0), max(2.0, min(size) * 0.08)))
    light = rng.uniform(-1, 1, 2)
    color = color * np.clip(1 + 6 * (gx * light[0] + gy * light[1]), 0.5, 1.5)[..., None]
    layers.append(Layer(color.astype(np.float32), alpha, subject_d.astype(np.float32), "subject"))
    return Scene(layers, size), mask


def _photographed(rng: np.random.Generator, scene: Scene, subject: np.ndarray, dof_share: float,
                  sharp: Render | None = None) -> Render:
    """``scene`` all in focus (``sharp`` if already rendered), or with a ``dof_share`` chance
    focused on the subject's median depth with a shallow depth of field."""
    if sharp is None:
        sharp = render(scene, 0.0, 0.0)
    if dof_share <= 0 or rng.random() >= dof_share:  # no draw when off: same scenes as before
        return sharp
    depth = sharp.disparity
    focus = float(np.median(depth[subject > 0])) if subject.any() else float(depth.max())
    return render(scene, focus, float(rng.uniform(*DEPTH_DOF_BLUR_PX)))


def depth_scene_sample(seed_or_rng: SeedOrRng, size: int | tuple[int, int], *,
                       composite_share: float = DEPTH_COMPOSITE_SHARE,
                       closeup_share: float = DEPTH_CLOSEUP_SHARE,
                       dof_share: float = DEPTH_DOF_SHARE) -> dict[str, np.ndarray]:
    """An image with its depth and foreground mask, for the depth module (Eq. 1).

    Most items are :func:`~defocus_cli.data.scene.random_scene` scenes, which carry the cues a
    photograph has: a textured ground plane whose inverse depth grows towards the bottom row and
    whose texture shrinks towards a hazy horizon, sky, photo-textured objects that stand on the
    ground where it has their depth and whose size grows with nearness, and occlusion. The
    others (``composite_share``) are the paper's 3-plane composites. A ``closeup_share`` of the
    photographic items are close-ups (:func:`_closeup_scene`). Images are all in focus except a
    ``dof_share`` of the photographic items, rendered focused on the nearest subject with a CoC
    radius K ~ U(:data:`DEPTH_DOF_BLUR_PX`) px per unit of depth. ``segmentation`` marks the
    nearest object (and anything in front of it). Half the items are mirrored left to right.
    """
    rng = as_rng(seed_or_rng)
    h, w = as_size(size)
    if rng.random() < composite_share:
        scene, _, planes = _composite_scene(rng, (h, w))
        out = render(scene, 0.0, 0.0)
        segmentation = _object_mask(planes)
    elif closeup_share > 0 and rng.random() < closeup_share:  # no draw when off: same scenes as before
        scene, segmentation = _closeup_scene(rng, (h, w))
        out = _photographed(rng, scene, segmentation, dof_share)
    else:
        scene = random_scene(rng, (h, w))
        out = render(scene, 0.0, 0.0)
        objects = [layer.constant_disparity for layer in scene.layers if layer.name == "object"]
        d_near = max(d for d in objects if d is not None)
        segmentation = (out.disparity >= d_near - 1e-3).astype(np.float32)
        out = _photographed(rng, scene, segmentation, dof_share, out)
    image, depth = out.image, out.disparity
    if rng.random() < 0.5:
        image, depth, segmentation = (np.ascontiguousarray(a[:, ::-1]) for a in (image, depth, segmentation))
    return {"image": image, "depth": depth, "segmentation": segmentation}


# CLI task name -> sampler
SAMPLERS = {
    "magnify": magnify_sample,
    "aperture-stack": aperture_stack,
    "refocus": focal_stack_sample,
    "defocus-map": defocus_map_sample,
    "syndof": syndof_sample,
    "deeplens": deeplens_sample,
    "depth": depth_scene_sample,
}
