"""Shared fixtures: tiny test photos in every format, mode and bit depth, and ICC profiles.

Photos are a few dozen pixels wide so the whole suite stays fast on two cores. Their
content is asymmetric (a gradient plus a bright top-left block), so a wrong rotation or
mirror is always visible in a comparison.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image


def pattern(height: int = 24, width: int = 36, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A float32 HxWxC test pattern in [0, 1]: smooth gradients, a marked corner, mild noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = [x / max(width - 1, 1), y / max(height - 1, 1), (x + y) / max(width + height - 2, 1), 1 - x / max(width - 1, 1)]
    image = np.stack(base[:channels], axis=2) * 0.8 + 0.1
    image[: height // 4, : width // 4] = 0.95  # the top-left marker
    rng = np.random.default_rng(seed)
    image += rng.uniform(-0.03, 0.03, image.shape).astype(np.float32)
    return np.clip(image, 0, 1).astype(np.float32)


def _s15f16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def make_rgb_icc(primaries_xyz: tuple[tuple[float, float, float], ...], gamma: float, description: str) -> bytes:
    """A minimal ICC v2 display profile (matrix/TRC): D50 white, three XYZ primaries, one gamma.

    Used to build a non-sRGB RGB profile (Adobe-RGB-like by default in the fixtures) that
    LittleCMS accepts, without shipping a profile file.
    """
    def xyz_tag(values: tuple[float, float, float]) -> bytes:
        return b"XYZ " + b"\0" * 4 + b"".join(_s15f16(v) for v in values)

    text = description.encode("ascii") + b"\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    d50 = (0.9642, 1.0, 0.8249)
    tags = [
        (b"desc", desc), (b"wtpt", xyz_tag(d50)),
        (b"rXYZ", xyz_tag(primaries_xyz[0])), (b"gXYZ", xyz_tag(primaries_xyz[1])), (b"bXYZ", xyz_tag(primaries_xyz[2])),
        (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
        (b"cprt", b"text" + b"\0" * 4 + b"No copyright, test profile\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, payload in tags:
        padded = payload + b"\0" * (-len(payload) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(payload))
        data += padded
    size = offset + len(data)
    header = (
        struct.pack(">I", size) + b"none" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 4 + b"\0" * 4 + b"\0" * 8 + b"\0" * 8
        + struct.pack(">I", 0) + b"".join(_s15f16(v) for v in d50) + b"\0" * 4 + b"\0" * 16 + b"\0" * 28
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


#: Adobe RGB (1998) primaries adapted to D50 and its 2.2 gamma: a common non-sRGB camera profile.
ADOBE_LIKE_PRIMARIES = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))


@pytest.fixture(scope="session")
def adobe_like_icc() -> bytes:
    return make_rgb_icc(ADOBE_LIKE_PRIMARIES, 2.2, "Adobe-like RGB test profile")


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"  # Make, to check metadata survives
    return exif.tobytes()


def write_photo(path: Path, mode: str = "RGB", bit_depth: int = 8, size: tuple[int, int] = (36, 24),
                orientation: int | None = None, icc: bytes | None = None, quality: int = 95,
                seed: int = 0) -> np.ndarray:
    """Write a test photo; return the stored samples as float32 HxWxC in [0, 1].

    ``mode``: 'L', 'LA', 'RGB', 'RGBA', 'P' (palette) or 'CMYK'. The format follows the
    suffix. 16-bit colour files are written with OpenCV (Pillow has no 16-bit RGB mode).
    """
    width, height = size
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "P": 3, "CMYK": 3}[mode]
    values = pattern(height, width, 4 if channels in (2, 4) else max(channels, 3), seed)
    if channels == 1:
        values = values[..., :1]
    elif channels == 2:
        values = values[..., [0, 3]]
    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}[path.suffix.lower()]
    if bit_depth == 16:
        samples = (values * 65535 + 0.5).astype(np.uint16)
        if channels >= 3:
            order = [2, 1, 0, 3][:channels]
            ok, encoded = cv2.imencode(path.suffix, np.ascontiguousarray(samples[..., order]))
            assert ok
            path.write_bytes(encoded.tobytes())
        else:
            Image.fromarray(samples[..., 0]).save(path, format=fmt)
        return samples.astype(np.float32) / 65535
    samples = (values * 255 + 0.5).astype(np.uint8)
    image = Image.fromarray(samples[..., 0] if channels == 1 else samples)
    if mode == "P":
        image = image.quantize(colors=16)
        samples = np.asarray(image.convert("RGB"))
    elif mode == "CMYK":
        image = image.convert("CMYK")
        samples = np.asarray(image.convert("RGB"))
    options: dict[str, object] = {}
    if orientation is not None:
        options["exif"] = exif_with_orientation(orientation)
    if icc is not None:
        options["icc_profile"] = icc
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    if fmt == "JPEG":
        options["subsampling"] = 0  # 4:4:4, so the noisy pattern survives within a few levels
    if fmt == "WEBP" and quality >= 100:
        options["lossless"] = True
    image.save(path, format=fmt, **options)
    stored = samples.astype(np.float32) / 255
    return stored[..., None] if stored.ndim == 2 else stored


@pytest.fixture
def photo(tmp_path: Path) -> Callable[..., Path]:
    """``photo(name, **write_photo options) -> Path``: a test photo inside tmp_path."""

    def make(name: str = "photo.png", **options: object) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_photo(path, **options)  # type: ignore[arg-type]
        return path

    return make


def encoded_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture
def no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights folder and no hub: jobs see no installed model (and a bug that reached
    for the hub fails instead of downloading)."""
    folder = tmp_path / "empty-weights"
    folder.mkdir()
    monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return folder
