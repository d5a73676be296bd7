"""Defocus and depth map files, by the project's fixed conventions (DESIGN.md).

Kinds:

- ``'defocus'``: circle-of-confusion **radius in pixels** of the input image, unsigned.
  PNG stores ``uint16 = round(radius * 256)`` (so 0..255.996 px in 1/256 px steps) with the
  text chunk ``defocus:scale=0.00390625``.
- ``'depth'``: normalized inverse depth in [0, 1], 1 = nearest. PNG stores
  ``uint16 = round(value * 65535)`` with ``defocus:scale=1.5259021896696422e-05``.
- ``'mask'``: a 0/1 mask (``defocus-map --binary``: 1 = blurred). PNG is plain 8-bit black
  and white (0 / 255) with no scale chunk, so any viewer or tool reads it as a mask.

Formats: ``png`` (16-bit grayscale as above), ``npy`` (float32), ``tiff`` (float32).
:func:`load_map` reads all three back, plus 8-bit PNGs and maps from other tools (without a
scale chunk a 16-bit PNG is read as value/65535 and an 8-bit one as value/255).

Example::

    save_map(coc_radius_px, "photo_defocus-map.png", "defocus", "png")
    coc_radius_px = load_map("photo_defocus-map.png")   # float32 HxW, pixels again
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from defocus_cli.errors import InputError
from defocus_cli.io.atomic import atomic_write_bytes
from defocus_cli.ops.checks import check_map

#: Value of one PNG step, per kind (masks are 8-bit 0/255 and carry no scale).
PNG_SCALE = {"defocus": 1 / 256, "depth": 1 / 65535}
#: Axis label of each kind's legend in ``--colorize`` previews.
UNIT_LABELS = {"defocus": "CoC radius, px", "depth": "inverse depth (1 = near)", "mask": "1 = blurred"}
MAP_FORMATS = ("png", "npy", "tiff")
MAP_EXTENSIONS = {"png": "png", "npy": "npy", "tiff": "tif"}
SCALE_KEY = "defocus:scale"
KIND_KEY = "defocus:kind"


def encode_map(values: np.ndarray, kind: str, format: str) -> bytes:
    """Encode a float HxW map as ``format`` ('png' | 'npy' | 'tiff') by ``kind``'s convention."""
    check_map(values, f"{kind} map")
    if kind not in UNIT_LABELS:
        raise ValueError(f"kind must be one of {tuple(UNIT_LABELS)}, got {kind!r}")
    values = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    buffer = io.BytesIO()
    if format == "npy":
        np.save(buffer, values, allow_pickle=False)
    elif format == "tiff":
        Image.fromarray(values).save(buffer, format="TIFF", compression="tiff_adobe_deflate")
    elif format == "png" and kind == "mask":
        info = PngImagePlugin.PngInfo()
        info.add_text(KIND_KEY, kind)
        white = np.where(values >= 0.5, 255, 0).astype(np.uint8)
        Image.fromarray(white).save(buffer, format="PNG", pnginfo=info, compress_level=6)
    elif format == "png":
        scale = PNG_SCALE[kind]
        steps = np.clip(np.round(values / scale), 0, 65535).astype(np.uint16)
        info = PngImagePlugin.PngInfo()
        info.add_text(SCALE_KEY, repr(scale))
        info.add_text(KIND_KEY, kind)
        Image.fromarray(steps).save(buffer, format="PNG", pnginfo=info, compress_level=6)
    else:
        raise ValueError(f"format must be one of {MAP_FORMATS}, got {format!r}")
    return buffer.getvalue()


def save_map(values: np.ndarray, destination: str | os.PathLike[str] | BinaryIO, kind: str, format: str) -> None:
    """Write a map to a path (atomically) or a binary stream; see the module conventions."""
    data = encode_map(values, kind, format)
    if hasattr(destination, "write"):
        destination.write(data)  # type: ignore[union-attr]
        destination.flush()  # type: ignore[union-attr]
    else:
        atomic_write_bytes(destination, data)  # type: ignore[arg-type]


def load_map(source: str | os.PathLike[str] | bytes, name: str | None = None) -> np.ndarray:
    """Read a map file as float32 HxW in its physical units (px for defocus, [0,1] for depth).

    Accepts .npy (float), 8/16-bit PNG (scale chunk honoured), float or integer TIFF. A
    three-channel file is accepted only when its channels are equal (a gray map saved as RGB).

    Raises:
        InputError: missing, unreadable, empty or multi-channel input, with a one-line message.
    """
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), name or "<stdin>"
    else:
        path = Path(source)
        name = name or str(source)
        if not path.is_file():
            raise InputError(f"{name}: no such file")
        data = path.read_bytes()
    if not data:
        raise InputError(f"{name}: empty file")
    if data[:6] == b"\x93NUMPY":
        try:
            values = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise InputError(f"{name}: unreadable .npy file ({error})") from None
        if not np.issubdtype(values.dtype, np.number):
            raise InputError(f"{name}: .npy map must be numeric, got {values.dtype}")
        return _single_channel(values.astype(np.float32), name)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            scale_text = image.info.get(SCALE_KEY) or getattr(image, "text", {}).get(SCALE_KEY)
            mode = image.mode
            if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "1"):
                image = image.convert("L")
                mode = "L"
            values = np.asarray(image)
    except UnidentifiedImageError:
        raise InputError(f"{name}: not a map file (expected .npy, PNG or TIFF)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InputError(f"{name}: truncated or corrupt map file ({error})") from None
    if values.dtype == np.uint8 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[24] == 16:
        # Pillow narrows 16-bit colour PNGs to 8 bits; OpenCV keeps them.
        values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]
    values = _single_channel(np.asarray(values), name)
    if np.issubdtype(values.dtype, np.floating):
        return values.astype(np.float32)
    if scale_text:
        try:
            scale = float(scale_text)
        except ValueError:
            raise InputError(f"{name}: bad {SCALE_KEY} text chunk {scale_text!r}") from None
        if not math.isfinite(scale) or scale <= 0:
            raise InputError(f"{name}: bad {SCALE_KEY} text chunk {scale_text!r}")
        return values.astype(np.float32) * np.float32(scale)
    maximum = 255.0 if values.dtype == np.uint8 else 65535.0
    return values.astype(np.float32) / np.float32(maximum)


def _single_channel(values: np.ndarray, name: str) -> np.ndarray:
    values = np.squeeze(values) if values.ndim > 2 and 1 in values.shape[2:] else values
    if values.ndim == 3 and values.shape[2] in (3, 4):
        color = values[..., :3]
        if np.all(color == color[..., :1]):
            return np.ascontiguousarray(color[..., 0])
        raise InputError(f"{name}: a map must have one channel, got a colour image")
    if values.ndim != 2:
        raise InputError(f"{name}: a map must be HxW, got shape {values.shape}")
    if values.size == 0:
        raise InputError(f"{name}: the map is empty ({values.shape[1]}x{values.shape[0]} pixels)")
    return values


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k steps) covering [low, high]."""
    if not high > low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(round(value, 10))
        value += step
    return ticks


def colorize_map(values: np.ndarray, unit_label: str, vmin: float | None = None,
                 vmax: float | None = None) -> np.ndarray:
    """A viewable uint8 HxWx3 RGB rendering of a map, with a legend strip below it.

    The map is colour-mapped (viridis) from ``vmin`` (default 0) to ``vmax`` (default the
    99.5th percentile, so a few outliers do not flatten the rest). The legend shows the colour
    bar with tick values in the map's units and ``unit_label`` (e.g. "CoC radius, px").
    Output height is H plus the legend strip.
    """
    check_map(values, "map")
    values = np.nan_to_num(np.asarray(values, dtype=np.float32))
    height, width = values.shape
    low = 0.0 if vmin is None else float(vmin)
    high = float(np.percentile(values, 99.5)) if vmax is None else float(vmax)
    if not high > low:
        high = low + 1.0
    normalized = np.clip((values - low) / (high - low), 0, 1)
    colored = cv2.applyColorMap((normalized * 255 + 0.5).astype(np.uint8), cv2.COLORMAP_VIRIDIS)[..., ::-1]

    # Legend: size follows the image width, so it reads the same on small and large maps.
    font = cv2.FONT_HERSHEY_SIMPLEX
    font_scale = max(0.3, min(1.5, width / 900))
    thickness = max(1, round(font_scale * 1.5))
    (_, text_height), _ = cv2.getTextSize("0", font, font_scale, thickness)
    margin = max(4, width // 40)
    bar_height = max(6, text_height)
    strip_height = margin + bar_height + margin // 2 + text_height * 2 + margin + text_height + margin
    strip = np.full((strip_height, width, 3), 255, dtype=np.uint8)
    # The bar keeps its margins where they fit; a map only a few pixels wide (a 1x1 photo, a
    # thin strip) gets a bar across its whole width instead of one that lies outside it.
    bar_left = margin if width >= 2 * margin + 2 else 0
    bar_right = width - bar_left
    ramp = np.linspace(0, 255, bar_right - bar_left).astype(np.uint8)[None, :]
    bar = cv2.applyColorMap(np.repeat(ramp, bar_height, axis=0), cv2.COLORMAP_VIRIDIS)[..., ::-1]
    strip[margin : margin + bar_height, bar_left:bar_right] = bar
    tick_top = margin + bar_height
    label_baseline = tick_top + margin // 2 + text_height + text_height // 2
    for tick in _nice_ticks(low, high):
        x = bar_left + round((tick - low) / (high - low) * (bar_right - bar_left - 1))
        strip[tick_top : tick_top + margin // 2 + 1, max(x - thickness // 2, 0) : x + thickness // 2 + 1] = 0
        text = f"{tick:g}"
        (text_width, _), _ = cv2.getTextSize(text, font, font_scale, thickness)
        text_x = int(np.clip(x - text_width // 2, 0, max(width - text_width, 0)))
        cv2.putText(strip, text, (text_x, label_baseline), font, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    title = f"{unit_label}" + (" (clipped)" if vmax is None and float(values.max()) > high else "")
    cv2.putText(strip, title, (bar_left, strip_height - margin), font, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return np.concatenate([colored, strip], axis=0)
