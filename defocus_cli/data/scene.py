"""Procedural scenes with depth: back-to-front RGBA layers, each with a disparity map.

Disparity is the project's normalized inverse depth D in [0, 1], 1 = nearest. A scene is a
list of :class:`Layer` s, back to front; the back layer is opaque and fills the frame, so
every view of the light field sees something behind every edge.

Example::

    rng = np.random.default_rng(7)
    scene = random_scene(rng, (128, 128))
    [layer.name for layer in scene.layers]  # ['sky', 'ground', 'object', ...]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from defocus_cli.data import shapes, textures
from defocus_cli.ops.color import srgb_to_linear


@dataclass
class Layer:
    """One RGBA layer. ``color`` is linear light (may exceed 1 at highlights), ``alpha`` the
    coverage in [0, 1], ``disparity`` the layer's D per pixel (constant or smooth)."""

    color: np.ndarray
    alpha: np.ndarray
    disparity: np.ndarray
    name: str = "layer"
    opaque: bool = False

    @property
    def constant_disparity(self) -> float | None:
        """The layer's disparity if it is fronto-parallel (constant), else None."""
        d = self.disparity[self.alpha > 0] if not self.opaque else self.disparity
        if d.size == 0:
            return float(self.disparity.flat[0])
        lo, hi = float(d.min()), float(d.max())
        return lo if hi - lo < 1e-6 else None


@dataclass
class Scene:
    """Layers back to front; ``size`` is (H, W)."""

    layers: list[Layer] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)

    def disparity_range(self) -> tuple[float, float]:
        """(min, max) disparity over the layers' covered pixels."""
        values = [layer.disparity[layer.alpha > 0.05] for layer in self.layers]
        values = np.concatenate([v.ravel() for v in values if v.size])
        return float(values.min()), float(values.max())


def _const(size: tuple[int, int], value: float) -> np.ndarray:
    return np.full(size, value, np.float32)


def _perspective_ground(rng: np.random.Generator, size: tuple[int, int], horizon: float, d_horizon: float,
                        d_bottom: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured ground plane below a (wavy) horizon: colour, alpha and disparity.

    On a flat ground plane inverse depth is linear in the image row, and texture scale is
    proportional to it, so the texture is warped accordingly.
    """
    h, w = size
    y_h = horizon * h
    rows = np.arange(h, dtype=np.float32)
    disparity_rows = d_horizon + (d_bottom - d_horizon) * np.clip((rows - y_h) / max(h - y_h, 1), 0, 1)
    disparity = np.repeat(disparity_rows[:, None], w, axis=1).astype(np.float32)
    src_size = (max(h, 32), max(w, 32))
    tex = textures.surface_texture(rng, src_size)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    depth = 1.0 / np.maximum(disparity, 0.02)  # relative depth along the ground
    zoom = rng.uniform(0.3, 0.8)
    map_x = (xx - w / 2) * depth * d_bottom * zoom + src_size[1] / 2
    map_y = (depth - 1.0 / d_bottom) * d_bottom * h * zoom * 0.5
    color = cv2.remap(tex, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    # distance haze: far ground fades towards the sky colour
    haze = np.clip(1 - (disparity - d_horizon) / max(d_bottom - d_horizon, 1e-3), 0, 1)[..., None] ** 3
    color = color * (1 - 0.5 * haze) + 0.5 * haze * float(color.mean())
    hills = (textures.pink_noise(rng, (1, w), 2.0)[0] - 0.5) * h * rng.uniform(0.0, 0.15)
    edge = yy - (y_h + hills[None, :])
    alpha = np.clip(edge + 0.5, 0, 1).astype(np.float32)
    return color.astype(np.float32), alpha, disparity


def _stand_on(alpha: np.ndarray, row: float | None) -> np.ndarray:
    """Move a shape vertically so its lowest pixel touches the ground at ``row`` (if in frame)."""
    if row is None:
        return alpha
    h = alpha.shape[0]
    rows = np.nonzero(alpha.max(axis=1) > 0.5)[0]
    if rows.size == 0 or row >= h + 2:
        return alpha
    dy = int(round(row - rows[-1]))
    if abs(dy) >= h:  # a move that would push the whole shape out of frame: leave it be
        return alpha
    out = np.zeros_like(alpha)
    if dy >= 0:
        out[dy:] = alpha[: h - dy]
    else:
        out[: h + dy] = alpha[-dy:]
    return out


def _ground_row(ground: tuple[float, float, float] | None, h: int, d: float) -> float | None:
    """Image row where a ground plane (horizon row, D at horizon, D at bottom) has disparity d."""
    if ground is None:
        return None
    y_h, d_h, d_b = ground
    if not d_h < d <= d_b * 1.15:
        return None
    return y_h + (d - d_h) / (d_b - d_h) * (h - y_h)


def _flower_layer(rng: np.random.Generator, size: tuple[int, int], d: float, ground_row: float | None) -> Layer:
    """A flower or plant: petals round a centre, a stem and leaves (the Flowers data's subject)."""
    h, w = size
    r = min(h, w) * (0.04 + 0.14 * d) * rng.uniform(0.7, 1.3)
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.15, 0.7) * h
    one = 16
    petals = np.zeros(size, np.float32)
    n = int(rng.integers(5, 13))
    start = rng.uniform(0, 2 * np.pi)
    for i in range(n):
        a = start + 2 * np.pi * i / n
        px, py = cx + np.cos(a) * r * 0.55, cy + np.sin(a) * r * 0.55
        cv2.ellipse(petals, (int(px * one), int(py * one)), (int(r * 0.5 * one), int(r * 0.2 * one + one)),
                    np.degrees(a), 0, 360, 1.0, -1, cv2.LINE_AA, 4)
    centre = np.zeros(size, np.float32)
    cv2.circle(centre, (int(cx * one), int(cy * one)), int(r * rng.uniform(0.15, 0.3) * one), 1.0, -1, cv2.LINE_AA, 4)
    stem = np.zeros(size, np.float32)
    bottom = h + 5 if ground_row is None else ground_row
    cy = min(cy, bottom - 2 * r)  # the bloom sits above where its stem meets the ground
    bend = rng.normal(0, r)
    pts = np.array([[cx, cy], [cx + bend, (cy + bottom) / 2], [cx + bend * 0.5, bottom]])
    cv2.polylines(stem, [np.round(pts * one).astype(np.int32)], False, 1.0, max(1, int(r * 0.12)), cv2.LINE_AA, 4)
    for _ in range(int(rng.integers(0, 3))):
        ly = rng.uniform(min(cy + r, bottom), max(cy + r, bottom))
        side = rng.choice([-1, 1])
        cv2.ellipse(stem, (int((cx + side * r * 0.5) * one), int(ly * one)), (int(r * 0.6 * one), int(r * 0.2 * one + one)),
                    float(rng.uniform(-40, 40)), 0, 360, 1.0, -1, cv2.LINE_AA, 4)
    green = textures.random_color(rng, (0.4, 0.8))
    green = np.array([green[0] * 0.4, 0.35 + 0.4 * green[1], green[2] * 0.3], np.float32)
    petal_rgb = textures.random_color(rng, (0.5, 1.0))
    heart = np.array([rng.uniform(0.6, 1.0), rng.uniform(0.4, 0.8), rng.uniform(0.0, 0.2)], np.float32)
    grain = 0.8 + 0.4 * textures.pink_noise(rng, size, 1.2)[..., None]
    srgb = stem[..., None] * green + petals[..., None] * (petal_rgb - stem[..., None] * green)
    srgb = srgb * (1 - centre[..., None]) + centre[..., None] * heart
    alpha = np.maximum(np.maximum(stem, petals), centre)
    srgb = srgb / np.maximum(alpha[..., None], 1e-3)
    color = srgb_to_linear(np.clip(srgb * grain, 0, 1))
    return Layer(color.astype(np.float32), alpha.astype(np.float32), _const(size, d), "flower")


def _object_layer(rng: np.random.Generator, size: tuple[int, int], d: float, highlight_prob: float,
                  ground_row: float | None = None) -> Layer:
    scale = 0.1 + 0.25 * d * rng.uniform(0.6, 1.2)
    alpha = _stand_on(shapes.random_shape(rng, size, scale), ground_row)
    color = textures.random_texture(rng, size, photo_prob=0.75)
    if rng.random() < 0.3:
        # shading: objects are lit from one side
        gy, gx = np.gradient(cv2.GaussianBlur(alpha, (0, 0), max(2.0, min(size) * 0.05)))
        light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1)])
        shade = np.clip(1 + 4 * (gx * light[0] + gy * light[1]), 0.5, 1.5)
        color = color * shade[..., None]
    if rng.random() < highlight_prob:
        color = textures.add_highlights(rng, color, alpha, int(rng.integers(1, 4)))
    return Layer(color, alpha, _const(size, d), "object")


def random_scene(rng: np.random.Generator, size: tuple[int, int], *, n_objects: tuple[int, int] = (3, 6),
                 highlight_prob: float = 0.5, stroke_prob: float = 0.5, leaves_prob: float = 0.35, flower_prob: float = 0.4,
                 background: str = "random", near_range: tuple[float, float] = (0.55, 1.0)) -> Scene:
    """A random layered scene: sky or wall, an optional slanted ground, objects, strokes, leaves.

    Args:
        rng: the only source of randomness (same state, same scene).
        size: (H, W) in pixels.
        n_objects: inclusive range of object layers (photo crops cut out by alpha shapes).
        highlight_prob: chance that the background (and each object) carries specular highlights.
        stroke_prob, leaves_prob: chance of a thin-stroke layer and of a dead-leaves stack.
        flower_prob: chance of one to three flowers/plants (petals, stem, leaves).
        background: "ground" (sky + slanted ground plane), "wall" (opaque far wall, fronto-parallel
            or slanted) or "random".
        near_range: disparity range of the nearest object.
    """
    h, w = int(size[0]), int(size[1])
    size = (h, w)
    if h < 8 or w < 8:
        raise ValueError(f"scene size must be at least 8x8 px, got {size}")
    layers: list[Layer] = []
    kind = background if background != "random" else str(rng.choice(["ground", "wall"], p=[0.55, 0.45]))
    if kind == "ground":
        d_far = float(rng.uniform(0.0, 0.1))
        sky = srgb_to_linear(textures.sky_texture(rng, size)) if rng.random() < 0.7 else textures.surface_texture(rng, size)
        if rng.random() < highlight_prob:
            sky = textures.add_highlights(rng, sky, np.ones(size, np.float32), int(rng.integers(3, 12)))
        layers.append(Layer(sky, np.ones(size, np.float32), _const(size, d_far), "sky", opaque=True))
        d_bottom = float(rng.uniform(0.45, 0.9))
        horizon = float(rng.uniform(0.3, 0.7))
        color, alpha, disp = _perspective_ground(rng, size, horizon, d_far + 0.02, d_bottom)
        layers.append(Layer(color, alpha, disp, "ground"))
        ground = (horizon * h, d_far + 0.02, d_bottom)
        d_back = d_far + 0.05
    elif kind == "wall":
        d0 = float(rng.uniform(0.0, 0.3))
        color = textures.surface_texture(rng, size)
        if rng.random() < highlight_prob:
            color = textures.add_highlights(rng, color, np.ones(size, np.float32), int(rng.integers(3, 12)))
        disparity = _const(size, d0)
        if rng.random() < 0.5:  # slanted wall: disparity is affine in image coordinates
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            gx, gy = rng.uniform(-0.25, 0.25, 2)
            disparity = np.clip(d0 + gx * (xx / w - 0.5) + gy * (yy / h - 0.5), 0, 1).astype(np.float32)
        layers.append(Layer(color, np.ones(size, np.float32), disparity, "wall", opaque=True))
        ground = None
        d_back = float(disparity.max()) + 0.03
    else:
        raise ValueError(f"background must be 'ground', 'wall' or 'random', got {background!r}")

    count = int(rng.integers(n_objects[0], n_objects[1] + 1))
    d_near = float(rng.uniform(*near_range))
    d_back = min(d_back, d_near - 0.05)
    depths = sorted(rng.uniform(d_back, d_near, max(count - 1, 0)).tolist() + [d_near])
    extras: list[tuple[float, str]] = []
    if rng.random() < stroke_prob:
        extras.append((float(rng.uniform(d_back, 1.0)), "strokes"))
    if rng.random() < leaves_prob:
        extras.append((float(rng.uniform(d_back, d_near)), "leaves"))
    if rng.random() < flower_prob:
        extras += [(float(rng.uniform(d_back, 1.0)), "flower") for _ in range(int(rng.integers(1, 4)))]
    items = sorted([(d, "object") for d in depths] + extras)
    for d, name in items:
        # objects stand on the ground where it has their disparity, as in a photograph
        row = _ground_row(ground, h, d) if rng.random() < 0.7 else None
        if name == "object":
            layers.append(_object_layer(rng, size, d, highlight_prob * 0.5, row))
        elif name == "flower":
            layers.append(_flower_layer(rng, size, d, row))
        elif name == "strokes":
            alpha = shapes.strokes(rng, size, int(rng.integers(2, 7)))
            color = srgb_to_linear(np.broadcast_to(textures.random_color(rng, (0.2, 0.9)), (h, w, 3)).copy())
            color = color * (0.7 + 0.6 * textures.pink_noise(rng, size, 1.5))[..., None]
            layers.append(Layer(color.astype(np.float32), alpha, _const(size, d), "strokes"))
        else:
            alpha, label = shapes.dead_leaves(rng, size, int(rng.integers(15, 60)))
            palette = np.stack([textures.random_color(rng) for _ in range(int(label.max()) + 2)])
            base = srgb_to_linear(palette[np.clip(label, 0, None)])
            # neighbouring leaves sit at slightly different depths in reality; one plane here
            leaf_tex = textures.random_texture(rng, size, photo_prob=0.5)
            color = base * (0.6 + 0.8 * leaf_tex)
            layers.append(Layer(color.astype(np.float32), alpha, _const(size, d), "leaves"))
    return Scene(layers, size)
