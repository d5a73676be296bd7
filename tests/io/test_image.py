"""defocus_cli.io.image: formats, bit depths, modes, orientation, ICC, guards, atomic saves."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from defocus_cli.errors import InputError
from defocus_cli.io.image import LoadedImage, encode_image, load_image, save_image
from defocus_cli.ops.color import srgb_to_linear
from tests.conftest import ADOBE_LIKE_PRIMARIES, exif_with_orientation, pattern, write_photo

# Lossy formats are compared with a tolerance; lossless ones must be exact to the sample.
TOLERANCE = {"png": 0.5 / 255, "tiff": 0.5 / 255, "webp": 0.5 / 255, "jpeg": 12 / 255}
SUFFIX = {"jpeg": "jpg", "png": "png", "tiff": "tif", "webp": "webp"}


# Every format x bit depth x mode the format can hold (the rest: test_downgrades_are_noted).
ROUND_TRIPS = [
    (fmt, bit_depth, mode)
    for fmt in ("jpeg", "png", "tiff", "webp")
    for bit_depth in (8, 16)
    for mode in ("L", "RGB", "RGBA")
    if not (bit_depth == 16 and fmt in ("jpeg", "webp") or mode == "RGBA" and fmt == "jpeg")
]


@pytest.mark.parametrize(("fmt", "bit_depth", "mode"), ROUND_TRIPS)
def test_round_trip_every_format_depth_and_mode(tmp_path: Path, fmt: str, bit_depth: int, mode: str) -> None:
    path = tmp_path / f"in.{SUFFIX[fmt]}"
    stored = write_photo(path, mode=mode, bit_depth=bit_depth, quality=100)
    image = load_image(path)

    assert image.format == fmt
    assert image.bit_depth == bit_depth
    assert image.rgb.dtype == np.float32 and image.rgb.shape == (24, 36, 3)
    assert image.grayscale == (mode == "L" and fmt != "webp")  # WebP stores gray as RGB
    color = np.repeat(stored[..., :1], 3, axis=2) if mode == "L" else stored[..., :3]
    np.testing.assert_allclose(image.rgb, color, atol=TOLERANCE[fmt] + 1e-6)
    if mode == "RGBA":
        np.testing.assert_array_equal(image.alpha, stored[..., 3])
    else:
        assert image.alpha is None

    out = tmp_path / f"out.{SUFFIX[fmt]}"
    save_image(image, out, fmt, quality=100)
    again = load_image(out)
    assert (again.bit_depth, again.grayscale, again.alpha is None) == (bit_depth, image.grayscale, image.alpha is None)
    np.testing.assert_allclose(again.rgb, image.rgb, atol=TOLERANCE[fmt] + 1e-6)
    if image.alpha is not None:
        np.testing.assert_array_equal(again.alpha, image.alpha)  # alpha passes through untouched


def test_sixteen_bit_keeps_sixteen_bit_precision(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    stored = write_photo(path, bit_depth=16)
    image = load_image(path)
    # Values between 8-bit steps survive: the loader did not go through 8 bits.
    assert np.abs(image.rgb * 255 - np.round(image.rgb * 255)).max() > 0.1
    np.testing.assert_array_equal(np.round(image.rgb * 65535), np.round(stored * 65535))
    data, _ = encode_image(image, "tiff")
    np.testing.assert_array_equal(load_image(data).rgb, image.rgb)


def test_downgrades_are_noted(tmp_path: Path) -> None:
    image = LoadedImage(rgb=pattern(), alpha=pattern()[..., 0], bit_depth=16, format="png")
    data, notes = encode_image(image, "jpeg")
    assert any("8-bit" in note for note in notes) and any("alpha" in note for note in notes)
    back = load_image(data)
    assert back.bit_depth == 8 and back.alpha is None


@pytest.mark.parametrize("mode", ["P", "CMYK"])
def test_palette_and_cmyk_are_converted_with_a_note(tmp_path: Path, mode: str) -> None:
    path = tmp_path / ("in.png" if mode == "P" else "in.jpg")
    stored = write_photo(path, mode=mode, quality=100)
    image = load_image(path)
    assert image.notes and mode.replace("P", "palette") in image.notes[0].replace("CMYK", "CMYK")
    np.testing.assert_allclose(image.rgb, stored, atol=6 / 255)


def test_palette_with_transparency_keeps_alpha(tmp_path: Path) -> None:
    indices = np.tile(np.arange(4, dtype=np.uint8), (3, 2))
    image = Image.fromarray(indices, mode=None).convert("P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    image.info["transparency"] = 3
    path = tmp_path / "pal.png"
    image.save(path, transparency=3)
    loaded = load_image(path)
    assert loaded.alpha is not None
    np.testing.assert_array_equal(loaded.alpha == 0, indices == 3)


@pytest.mark.parametrize("suffix", ["png", "tif"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow_and_is_reset(tmp_path: Path, orientation: int, suffix: str) -> None:
    path = tmp_path / f"rotated.{suffix}"
    write_photo(path, orientation=orientation)
    image = load_image(path)
    with Image.open(path) as reference:
        expected = np.asarray(ImageOps.exif_transpose(reference), dtype=np.float32) / 255
    np.testing.assert_array_equal(image.rgb, expected)
    assert image.exif is not None
    saved = tmp_path / "saved.jpg"
    save_image(image, saved, "jpeg")
    with Image.open(saved) as written:
        exif = written.getexif()
        assert exif[0x0112] == 1 and exif[0x010F] == "TestCam"
        assert written.size == (image.width, image.height)


def test_strip_metadata_drops_exif_and_icc(tmp_path: Path, adobe_like_icc: bytes) -> None:
    path = tmp_path / "meta.jpg"
    write_photo(path, orientation=6, icc=adobe_like_icc)
    image = load_image(path)
    for fmt in ("jpeg", "png", "tiff", "webp"):
        data, _ = encode_image(image, fmt, strip_metadata=True)
        with Image.open(io.BytesIO(data)) as written:
            assert not written.info.get("icc_profile") and 0x0112 not in written.getexif()
        data, _ = encode_image(image, fmt)
        with Image.open(io.BytesIO(data)) as written:
            assert written.info.get("icc_profile") == adobe_like_icc and written.getexif()[0x0112] == 1


def _adobe_to_linear_srgb(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference: gamma 2.2 -> Adobe-like XYZ (D50) -> linear sRGB (D50-adapted).

    Returns linear sRGB and a mask of pixels inside the sRGB gamut (how a CMM clips
    out-of-gamut colours is its own choice and is not compared).
    """
    srgb_xyz = np.array([[0.4361, 0.3851, 0.1431], [0.2225, 0.7169, 0.0606], [0.0139, 0.0971, 0.7141]])
    adobe_xyz = np.array(ADOBE_LIKE_PRIMARIES).T
    linear = (values.astype(np.float64) ** (563 / 256)) @ (np.linalg.inv(srgb_xyz) @ adobe_xyz).T
    return linear, np.all((linear >= 0) & (linear <= 1), axis=-1)


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_non_srgb_icc_is_converted_both_ways(tmp_path: Path, adobe_like_icc: bytes, bit_depth: int) -> None:
    path = tmp_path / "adobe.png"
    stored = write_photo(path, bit_depth=bit_depth)
    if bit_depth == 8:
        with Image.open(path) as plain:
            plain.save(path, icc_profile=adobe_like_icc)
    else:  # 16-bit PNGs carry the profile through our encoder
        data, _ = encode_image(LoadedImage(rgb=stored, bit_depth=16, icc=adobe_like_icc), "png")
        path.write_bytes(data)
    image = load_image(path)
    assert image.icc_converted and image.icc == adobe_like_icc
    # Saturated colours move noticeably between the two spaces, and match the reference.
    assert np.abs(image.rgb - stored).max() > 0.03
    reference, in_gamut = _adobe_to_linear_srgb(stored)
    assert in_gamut.mean() > 0.5
    # Compared in linear light, where a 2.5/255 sRGB step near black is not an outlier.
    np.testing.assert_allclose(srgb_to_linear(image.rgb)[in_gamut], reference[in_gamut], atol=0.012)

    # Back on save: the file holds the profile and, in gamut, the original samples again.
    for fmt in ("png", "tiff"):
        data, _ = encode_image(image, fmt)
        with Image.open(io.BytesIO(data)) as written:
            assert written.info.get("icc_profile") == adobe_like_icc
        raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]
        raw = raw.astype(np.float32) / (65535 if bit_depth == 16 else 255)
        assert load_image(data).bit_depth == bit_depth
        np.testing.assert_allclose(raw[in_gamut], stored[in_gamut], atol=3 / 255)


def test_srgb_profile_is_kept_without_conversion(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / "srgb.png"
    stored = write_photo(path, icc=srgb)
    image = load_image(path)
    assert not image.icc_converted and image.icc == srgb
    np.testing.assert_array_equal(image.rgb, stored)


def test_decompression_bomb_guard_and_override(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    write_photo(path, size=(100, 80))
    with pytest.raises(InputError, match=r"big.png: 100x80 .* --max-pixels"):
        load_image(path, max_pixels=5000)
    assert load_image(path, max_pixels=8000).width == 100
    assert load_image(path, max_pixels=None).height == 80


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"this is a text file, not a photo\n", "not an image"),
        (b"GIF89a" + b"\0" * 40, "not"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as raised:
        load_image(path)
    assert "\n" not in str(raised.value) and str(raised.value).startswith(str(path))


@pytest.mark.parametrize(("suffix", "bit_depth"), [("jpg", 8), ("png", 8), ("tif", 8), ("webp", 8), ("png", 16), ("tif", 16)])
def test_truncated_files_are_refused(tmp_path: Path, suffix: str, bit_depth: int) -> None:
    path = tmp_path / f"cut.{suffix}"
    write_photo(path, size=(64, 48), bit_depth=bit_depth)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut") as raised:
        load_image(path)
    assert "\n" not in str(raised.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="folder"):
        load_image(tmp_path)


def test_loads_from_bytes_with_display_name(tmp_path: Path) -> None:
    path = tmp_path / "a.webp"
    write_photo(path)
    image = load_image(path.read_bytes())
    assert image.source == "<stdin>" and image.format == "webp"
    with pytest.raises(InputError, match="^<stdin>: empty file"):
        load_image(b"")


def test_with_pixels_keeps_metadata_and_resizes_alpha() -> None:
    image = LoadedImage(rgb=pattern(), alpha=np.ones((24, 36), np.float32), exif=b"x", icc=b"y", bit_depth=16)
    same = image.with_pixels(np.zeros((24, 36, 3)))
    assert same.rgb.dtype == np.float32 and (same.exif, same.icc, same.bit_depth) == (b"x", b"y", 16)
    assert image.with_pixels(np.zeros((12, 18, 3))).alpha.shape == (12, 18)
    with pytest.raises(ValueError):
        image.with_pixels(np.zeros((24, 36)))


def test_atomic_save_leaves_nothing_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def crash(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("defocus_cli.io.atomic.os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_image(LoadedImage(rgb=pattern()), target, "png")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_save_to_stream(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    save_image(LoadedImage(rgb=pattern()), buffer, "webp", quality=100)
    assert load_image(buffer.getvalue()).format == "webp"


def test_orientation_applies_to_alpha_too(tmp_path: Path) -> None:
    path = tmp_path / "rgba.png"
    stored = write_photo(path, mode="RGBA", orientation=6)
    image = load_image(path)
    np.testing.assert_array_equal(image.alpha, np.rot90(stored[..., 3], k=-1))
    assert image.rgb.shape == (36, 24, 3)


def test_exif_helper_sanity() -> None:
    exif = Image.Exif()
    exif.load(exif_with_orientation(3))
    assert exif[0x0112] == 3


@pytest.mark.parametrize("fmt", ["png", "tiff"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_sixteen_bit_orientation_and_exif_survive(fmt: str, orientation: int) -> None:
    stored = pattern()
    source = LoadedImage(rgb=stored, bit_depth=16, exif=exif_with_orientation(orientation), format=fmt)
    data, _ = encode_image(source, fmt)
    image = load_image(data)
    expected = {3: np.rot90(stored, 2), 6: np.rot90(stored, -1), 8: np.rot90(stored, 1)}[orientation]
    np.testing.assert_allclose(image.rgb, expected, atol=1 / 65535)
    with Image.open(io.BytesIO(encode_image(image, fmt)[0])) as written:
        exif = written.getexif()
        assert exif[0x0112] == 1 and exif[0x010F] == "TestCam"


def test_tiff_layout_tags_do_not_leak_into_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "layout.tif"
    write_photo(path, orientation=6)
    image = load_image(path)
    with Image.open(io.BytesIO(encode_image(image, "jpeg")[0])) as written:
        exif = written.getexif()
        assert exif[0x010F] == "TestCam" and exif[0x0112] == 1
        assert not {256, 257, 273, 279} & set(exif)


def test_format_limits_are_input_errors_not_crashes() -> None:
    wide = LoadedImage(rgb=np.zeros((2, 16384, 3), np.float32), source="wide.png")
    with pytest.raises(InputError, match="wide.png: 16384x2 is too large for WEBP"):
        encode_image(wide, "webp")
    assert load_image(encode_image(wide, "png")[0]).width == 16384
    exif = Image.Exif()
    exif[0x010E] = "x" * 70000  # ImageDescription: over one JPEG APP1 segment
    data, notes = encode_image(LoadedImage(rgb=pattern(), exif=exif.tobytes()), "jpeg")
    assert any("EXIF" in note for note in notes) and load_image(data).exif is None
