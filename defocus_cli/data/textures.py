"""Procedural and photographic textures for scene layers.

Every texture is float32 HxWx3 **linear light** (what the renderer composites), made from a
``numpy.random.Generator`` so scenes are deterministic by seed. Values are in [0, 1] except
specular highlights, which go above 1 so that defocus turns them into bright bokeh discs.
"""

from __future__ import annotations

import cv2
import numpy as np

from defocus_cli.data.photos import OBJECT_PHOTOS, SURFACE_PHOTOS, load_photo
from defocus_cli.ops.color import srgb_to_linear


def random_color(rng: np.random.Generator, saturation: tuple[float, float] = (0.1, 0.8)) -> np.ndarray:
    """A random sRGB colour (3,) with HSV value in [0.15, 0.95]."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*saturation) * 255, rng.uniform(0.15, 0.95) * 255]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def pink_noise(rng: np.random.Generator, size: tuple[int, int], beta: float = 1.5) -> np.ndarray:
    """Zero-mean, unit-range 1/f^beta noise, float32 HxW (beta 1..2: foliage to clouds)."""
    h, w = size
    white = rng.standard_normal((h, w)).astype(np.float32)
    spectrum = np.fft.rfft2(white)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    spectrum *= f ** (-beta / 1.0)
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(h, w)).astype(np.float32)
    lo, hi = np.percentile(field, [1, 99])
    return np.clip((field - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def _two_tone(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Map a [0,1] field onto a random two-colour ramp, sRGB HxWx3."""
    a, b = random_color(rng), random_color(rng)
    return (a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]).astype(np.float32)


def noise_texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    return _two_tone(pink_noise(rng, size, rng.uniform(1.0, 2.2)), rng)


def stripes_texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(4.0, max(6.0, min(h, w) / 4))
    warp = pink_noise(rng, size, 2.5) * rng.uniform(0, period)
    phase = (xx * np.cos(theta) + yy * np.sin(theta) + warp) * (2 * np.pi / period)
    t = 0.5 + 0.5 * np.sin(phase)
    if rng.random() < 0.5:  # hard-edged stripes (fabric, blinds)
        t = np.clip((t - 0.5) * 6 + 0.5, 0, 1)
    return _two_tone(t.astype(np.float32), rng)


def gradient_texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    t = xx / max(w - 1, 1) * np.cos(theta) + yy / max(h - 1, 1) * np.sin(theta)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return _two_tone(t.astype(np.float32), rng)


def flat_texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    base = random_color(rng)
    grain = (pink_noise(rng, size, 1.0) - 0.5) * rng.uniform(0.02, 0.1)
    return np.clip(base[None, None] + grain[..., None], 0, 1).astype(np.float32)


def sky_texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A sky-like vertical gradient with soft clouds (sRGB)."""
    h, w = size
    top = np.array([rng.uniform(0.2, 0.5), rng.uniform(0.4, 0.7), rng.uniform(0.7, 1.0)], np.float32)
    if rng.random() < 0.3:  # dusk
        top = np.array([rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.7)], np.float32)
    bottom = np.clip(top + rng.uniform(0.15, 0.4), 0, 1)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    sky = top * (1 - t) + bottom * t
    clouds = pink_noise(rng, size, 2.2)
    amount = rng.uniform(0.0, 0.6)
    cover = np.clip((clouds - 0.5) * 2.5, 0, 1)[..., None] * amount
    return np.clip(sky * (1 - cover) + 0.95 * cover, 0, 1).astype(np.float32)


def photo_crop(rng: np.random.Generator, size: tuple[int, int], names: tuple[str, ...] = OBJECT_PHOTOS,
               squash: float = 1.0) -> np.ndarray:
    """A random crop of an allowed photo, rescaled to ``size`` (sRGB), flipped and recoloured.

    ``squash`` < 1 compresses the crop vertically, as a ground plane seen at a grazing angle.
    """
    h, w = size
    photo = load_photo(str(rng.choice(names)))
    ph, pw = photo.shape[:2]
    scale = rng.uniform(0.35, 1.0)
    ch = int(np.clip(min(ph, pw) * scale / squash * h / max(h, w), 8, ph))
    cw = int(np.clip(min(ph, pw) * scale * w / max(h, w), 8, pw))
    y0 = int(rng.integers(0, ph - ch + 1))
    x0 = int(rng.integers(0, pw - cw + 1))
    crop = cv2.resize(photo[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return recolor(rng, np.ascontiguousarray(crop))


def recolor(rng: np.random.Generator, srgb: np.ndarray) -> np.ndarray:
    """Random colour, saturation and contrast change of an sRGB texture (stays in [0, 1])."""
    grey = srgb.mean(axis=2, keepdims=True)
    if float(np.abs(srgb - grey).max()) < 0.02 or rng.random() < 0.3:
        tint = random_color(rng, (0.1, 0.6))
        srgb = grey * (0.5 + tint[None, None])
    saturation = rng.uniform(0.6, 1.3)
    srgb = grey + (srgb - grey) * saturation
    contrast = rng.uniform(0.6, 1.3)
    mean = float(srgb.mean())
    srgb = (srgb - mean) * contrast + mean * rng.uniform(0.7, 1.2)
    gains = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    return np.clip(srgb * gains[None, None], 0, 1).astype(np.float32)


def random_texture(rng: np.random.Generator, size: tuple[int, int], photo_prob: float = 0.6,
                   names: tuple[str, ...] = OBJECT_PHOTOS) -> np.ndarray:
    """A texture of a random kind, returned in **linear light** HxWx3 float32."""
    if rng.random() < photo_prob:
        srgb = photo_crop(rng, size, names)
    else:
        kind = rng.choice(["noise", "noise", "stripes", "gradient", "flat"])
        srgb = {"noise": noise_texture, "stripes": stripes_texture, "gradient": gradient_texture,
                "flat": flat_texture}[str(kind)](rng, size)
    return srgb_to_linear(srgb)


def surface_texture(rng: np.random.Generator, size: tuple[int, int], squash: float = 1.0) -> np.ndarray:
    """An opaque background or ground texture in linear light (photo crops of surfaces, or noise)."""
    if rng.random() < 0.75:
        return srgb_to_linear(photo_crop(rng, size, SURFACE_PHOTOS, squash=squash))
    return srgb_to_linear(noise_texture(rng, size))


def add_highlights(rng: np.random.Generator, linear: np.ndarray, alpha: np.ndarray, count: int,
                   gain: tuple[float, float] = (3.0, 12.0)) -> np.ndarray:
    """Put ``count`` small specular highlights (linear value well above 1) inside ``alpha``.

    Blurred, each becomes a bright bokeh disc, as street lights or glints do in photographs.
    """
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha > 0.9)
    if count <= 0 or ys.size == 0:
        return linear
    out = linear.copy()
    warm = np.array([1.0, rng.uniform(0.8, 1.0), rng.uniform(0.55, 0.95)], np.float32)
    for _ in range(count):
        i = int(rng.integers(0, ys.size))
        radius = rng.uniform(0.4, 1.6)
        spot = np.zeros((h, w), np.float32)
        cv2.circle(spot, (int(xs[i] * 16), int(ys[i] * 16)), int(radius * 16), 1.0, -1, cv2.LINE_AA, shift=4)
        spot = cv2.GaussianBlur(spot, (0, 0), 0.5)
        peak = rng.uniform(*gain)
        out = out + spot[..., None] * warm[None, None] * peak
    return out.astype(np.float32)
