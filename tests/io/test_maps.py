"""defocus_cli.io.maps: map files by the project's conventions, and the colorized preview."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defocus_cli.errors import InputError
from defocus_cli.io.maps import colorize_map, encode_map, load_map, save_map


def _radius_map() -> np.ndarray:
    y, x = np.mgrid[0:20, 0:30].astype(np.float32)
    return (x * 0.37 + y * 0.11).astype(np.float32)  # 0 .. ~12.8 px, not on 1/256 steps


def test_defocus_png_is_sixteen_bit_radius_times_256_with_scale_chunk(tmp_path: Path) -> None:
    radius = _radius_map()
    path = tmp_path / "coc.png"
    save_map(radius, path, "defocus", "png")
    with Image.open(path) as image:
        assert image.mode.startswith("I")
        assert image.info["defocus:scale"] == "0.00390625"
        np.testing.assert_array_equal(np.asarray(image), np.round(radius * 256).astype(np.uint16))
    np.testing.assert_allclose(load_map(path), radius, atol=0.5 / 256)


def test_depth_png_is_value_times_65535(tmp_path: Path) -> None:
    depth = np.linspace(0, 1, 200, dtype=np.float32).reshape(10, 20)
    path = tmp_path / "depth.png"
    save_map(depth, path, "depth", "png")
    with Image.open(path) as image:
        assert float(image.info["defocus:scale"]) == pytest.approx(1 / 65535)
        assert int(np.asarray(image).max()) == 65535
    np.testing.assert_allclose(load_map(path), depth, atol=0.5 / 65535)


@pytest.mark.parametrize("fmt", ["npy", "tiff"])
def test_float_formats_are_exact(tmp_path: Path, fmt: str) -> None:
    radius = _radius_map() * 40  # beyond the PNG range too
    path = tmp_path / f"coc.{fmt}"
    save_map(radius, path, "defocus", fmt)
    loaded = load_map(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, radius)


def test_png_clips_to_its_range() -> None:
    data = encode_map(np.array([[-3.0, 300.0]], np.float32), "defocus", "png")
    np.testing.assert_allclose(load_map(data), [[0.0, 65535 / 256]])


def test_maps_without_scale_chunk_use_full_range(tmp_path: Path) -> None:
    eight = tmp_path / "eight.png"
    Image.fromarray(np.array([[0, 51, 255]], np.uint8)).save(eight)
    np.testing.assert_allclose(load_map(eight), [[0, 0.2, 1]])
    sixteen = tmp_path / "sixteen.png"
    Image.fromarray(np.array([[0, 13107, 65535]], np.uint16)).save(sixteen)
    np.testing.assert_allclose(load_map(sixteen), [[0, 0.2, 1]])
    gray_rgb = tmp_path / "rgb.png"
    Image.fromarray(np.full((2, 3, 3), 51, np.uint8)).save(gray_rgb)
    np.testing.assert_allclose(load_map(gray_rgb), np.full((2, 3), 0.2))


def test_bad_maps_give_one_line(tmp_path: Path) -> None:
    colour = tmp_path / "colour.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (4, 4, 3), dtype=np.uint8)).save(colour)
    with pytest.raises(InputError, match="one channel"):
        load_map(colour)
    with pytest.raises(InputError, match="no such file"):
        load_map(tmp_path / "missing.png")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_map(tmp_path / "empty.npy")
    (tmp_path / "text.png").write_text("not a map")
    with pytest.raises(InputError, match="not a map"):
        load_map(tmp_path / "text.png")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 5)))
    with pytest.raises(InputError, match="HxW"):
        load_map(tmp_path / "cube.npy")
    for shape in ((0, 0), (0, 4)):
        np.save(tmp_path / "no_pixels.npy", np.zeros(shape, np.float32))
        with pytest.raises(InputError, match="the map is empty"):
            load_map(tmp_path / "no_pixels.npy")


def test_encode_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        encode_map(np.zeros((2, 2, 3)), "defocus", "png")
    with pytest.raises(ValueError):
        encode_map(np.zeros((2, 2)), "blur", "png")
    with pytest.raises(ValueError):
        encode_map(np.zeros((2, 2)), "depth", "jpeg")


def test_colorize_has_a_legend_and_is_monotone() -> None:
    ramp = np.tile(np.linspace(0, 10, 200, dtype=np.float32), (60, 1))
    preview = colorize_map(ramp, "CoC radius, px", vmax=10)
    assert preview.dtype == np.uint8 and preview.shape[1] == 200 and preview.shape[2] == 3
    assert preview.shape[0] > 60  # the legend strip below the map
    legend = preview[60:]
    assert (legend < 50).all(axis=2).any()  # dark tick labels on the white strip
    # viridis: low = dark purple, high = bright yellow; brightness rises along the ramp.
    row = preview[30].astype(np.float32).sum(axis=1)
    assert row[-1] > row[100] > row[0]
    assert np.array_equal(colorize_map(ramp, "x", vmax=10)[:60], preview[:60])



@pytest.mark.parametrize("width", [1, 2, 3, 7, 9, 10])
def test_colorize_maps_a_few_pixels_wide(width: int) -> None:
    # narrower than the legend's margins: the bar spans the strip instead of lying outside it
    values = np.linspace(0, 4, 5 * width, dtype=np.float32).reshape(5, width)
    preview = colorize_map(values, "CoC radius, px")
    assert preview.dtype == np.uint8 and preview.shape[1] == width and preview.shape[0] > 5
    assert not (preview[5:] == 255).all()  # the legend drew something

@pytest.mark.parametrize("fmt", ["png", "npy", "tiff"])
def test_mask_kind(tmp_path: Path, fmt: str) -> None:
    mask = np.zeros((6, 9), np.float32)
    mask[:, 4:] = 1.0
    path = tmp_path / f"mask.{fmt}"
    save_map(mask, path, "mask", fmt)
    if fmt == "png":
        # plain black and white 8-bit, with no scale chunk that a reader could take for depth
        with Image.open(path) as image:
            assert image.mode == "L" and "defocus:scale" not in image.info
            np.testing.assert_array_equal(np.asarray(image), mask.astype(np.uint8) * 255)
    np.testing.assert_array_equal(load_map(path), mask)
