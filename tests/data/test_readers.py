"""Readers round-trip small files written in each dataset's exact layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from defocus_cli.data import readers
from defocus_cli.errors import InputError


def _flowers_png(path: Path, views: np.ndarray) -> None:
    """Interleave (14, 14, H, W, 3) views: pixel (y, x) of view (v, u) goes to (y*14 + v, x*14 + u)."""
    n, _, h, w, _ = views.shape
    raw = np.zeros((h * n, w * n, 3), np.float32)
    for v in range(n):
        for u in range(n):
            raw[v::n, u::n] = views[v, u]
    readers.write_image(path, raw, bits=16)


def test_flowers_reader_takes_central_views(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    views = rng.random((14, 14, 5, 6, 3)).astype(np.float32)
    _flowers_png(tmp_path / "lf.png", views)
    got = readers.read_flowers_lightfield(tmp_path / "lf.png", views=7)
    assert got.shape == (7, 7, 5, 6, 3)
    np.testing.assert_allclose(got, views[3:10, 3:10], atol=1e-4)
    with pytest.raises(InputError, match="14H x 14W"):
        readers.write_image(tmp_path / "bad.png", np.zeros((15, 28, 3)))
        readers.read_flowers_lightfield(tmp_path / "bad.png")


def test_flowers_shift_sum_refocuses_and_aperture_stack_grows_blur() -> None:
    base = np.zeros((24, 24, 3), np.float32)
    base[:, 12:] = 1.0
    views = np.zeros((9, 9, 24, 24, 3), np.float32)
    for v in range(9):
        for u in range(9):
            m = np.float32([[1, 0, -1.0 * (u - 4)], [0, 1, -1.0 * (v - 4)]])  # parallax 1 px per view
            views[v, u] = cv2.warpAffine(base, m, (24, 24), borderMode=cv2.BORDER_REPLICATE)
    np.testing.assert_allclose(readers.shift_sum(views, 9, shift_px=1.0), base, atol=1e-5)
    stack = readers.flowers_aperture_stack(views)
    widths = [np.count_nonzero((img[12, :, 0] > 0.02) & (img[12, :, 0] < 0.98))
              for img in [stack["narrow"], *stack["wide"]]]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    focal = readers.flowers_focal_stack(views[2:7, 2:7], s_max=1.0, n_slices=3)
    np.testing.assert_allclose(focal["slices"][-1], base, atol=1e-5)


def test_syndof_folder_round_trip(tmp_path: Path) -> None:
    (tmp_path / "image").mkdir()
    (tmp_path / "blur_map").mkdir()
    radius = np.linspace(0, 20, 16 * 16, dtype=np.float32).reshape(16, 16)
    image = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    readers.write_image(tmp_path / "image" / "a_001.png", image, bits=8)
    readers.write_syndof_blur_map(tmp_path / "blur_map" / "a_001.png", radius)
    (item,) = readers.read_syndof(tmp_path)
    assert item.name == "a_001"
    np.testing.assert_allclose(item.coc_radius_px, radius, atol=0.1 + 1e-6)
    np.testing.assert_allclose(item.sigma_px, item.coc_radius_px / 2)
    np.testing.assert_allclose(item.image, image, atol=1 / 255)
    (tmp_path / "blur_map" / "a_001.png").unlink()
    with pytest.raises(InputError, match="no blur_map"):
        readers.read_syndof(tmp_path)


def test_cuhk_folder_round_trip(tmp_path: Path) -> None:
    (tmp_path / "image").mkdir()
    (tmp_path / "gt").mkdir()
    mask = np.zeros((10, 12), np.float32)
    mask[2:8, 3:9] = 1.0  # white = sharp
    readers.write_image(tmp_path / "image" / "out_of_focus0001.jpg", np.full((10, 12, 3), 0.5), bits=8)
    readers.write_image(tmp_path / "gt" / "out_of_focus0001.png", mask, bits=8)
    readers.write_image(tmp_path / "image" / "motion0001.jpg", np.full((10, 12, 3), 0.5), bits=8)
    readers.write_image(tmp_path / "gt" / "motion0001.png", mask, bits=8)
    items = readers.read_cuhk(tmp_path)
    assert [i.name for i in items] == ["motion0001", "out_of_focus0001"]
    image, blurred = items[1]
    np.testing.assert_array_equal(blurred, 1.0 - mask)
    assert image.shape == (10, 12, 3)
    assert [i.name for i in readers.read_cuhk(tmp_path, defocus_only=True)] == ["out_of_focus0001"]
    np.testing.assert_array_equal(readers.read_cuhk(tmp_path, white_is_sharp=False)[1].blurred, mask)


def test_rgbd_folders_both_layouts(tmp_path: Path) -> None:
    depth = np.linspace(0, 1, 12 * 10, dtype=np.float32).reshape(10, 12)
    image = np.random.default_rng(2).random((10, 12, 3)).astype(np.float32)
    nested = tmp_path / "nested"
    (nested / "image").mkdir(parents=True)
    (nested / "depth").mkdir()
    readers.write_image(nested / "image" / "x.png", image, bits=16)
    readers.write_image(nested / "depth" / "x.png", depth, bits=16)
    (item,) = readers.read_rgbd_folder(nested)
    img, disp = item.load()
    np.testing.assert_allclose(disp, depth, atol=1 / 65535)
    np.testing.assert_allclose(img, image, atol=1 / 65535)

    flat = tmp_path / "flat"
    flat.mkdir()
    readers.write_image(flat / "y.jpg", image, bits=8)
    metric = 1.0 + 4.0 * depth
    np.save(flat / "y_depth.npy", metric)
    (item,) = readers.read_rgbd_folder(flat)
    _, disp = item.load("metric")
    assert disp.max() == pytest.approx(1.0) and disp.min() == pytest.approx(0.0)
    assert disp[0, 0] == pytest.approx(1.0)  # the smallest metric depth is the nearest
    (flat / "z.png").write_bytes(b"")
    with pytest.raises(InputError, match="no depth map"):
        readers.read_rgbd_folder(flat)


def test_read_image_errors_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        readers.read_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="not a folder"):
        readers.read_cuhk(tmp_path / "nope")
