"""Task samplers: the shared key/shape contract and each task's physics."""

from __future__ import annotations

import numpy as np
import pytest

from defocus_cli.data import tasks
from defocus_cli.data.scene import Layer, Scene
from defocus_cli.ops.color import srgb_to_linear

S = 32


def _check(out: dict[str, np.ndarray]) -> None:
    for key, value in out.items():
        assert isinstance(value, np.ndarray), key
        assert value.dtype == np.float32, key
        assert np.all(np.isfinite(value)), key


def test_magnify_sample_contract_and_m_one_is_identity() -> None:
    out = tasks.magnify_sample(4, S, m=1.0)
    _check(out)
    assert out["narrow"].shape == (S, S, 3) and out["disparity"].shape == (S, S)
    np.testing.assert_array_equal(out["wide"], out["narrow"])
    assert float(out["m"]) == 1.0
    with pytest.raises(ValueError, match=r"\[1, 4\]"):
        tasks.magnify_sample(4, S, m=5.0)


def _point_scene(rng: np.random.Generator, size: tuple[int, int], **_: object) -> Scene:
    """Black far wall at D = 0 and one bright point at D = 1 in the middle."""
    h, w = size
    point = np.zeros((h, w), np.float32)
    point[h // 2, w // 2] = 1.0
    wall = Layer(np.zeros((h, w, 3), np.float32), np.ones((h, w), np.float32), np.zeros((h, w), np.float32),
                 "wall", opaque=True)
    dot = Layer(np.ones((h, w, 3), np.float32), point, np.ones((h, w), np.float32), "point")
    return Scene([wall, dot], size)


def _radius(image: np.ndarray) -> float:
    lin = srgb_to_linear(image)[..., 0].astype(np.float64)
    h, w = lin.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = (yy - h // 2) ** 2 + (xx - w // 2) ** 2
    return float(np.sqrt(2 * (r2 * lin).sum() / lin.sum()))


def test_magnify_scales_every_coc_radius_by_m(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "random_scene", _point_scene)
    out = tasks.magnify_sample(3, 64, m=3.0, blur_radius_px=(4.0, 4.0))
    r = 4.0 * (1.0 - float(out["focus_disparity"]))
    assert r > 1.5  # this seed focuses well in front of the wall
    assert _radius(out["narrow"]) == pytest.approx(r, abs=0.4)
    assert _radius(out["wide"]) == pytest.approx(3 * r, abs=0.4)
    same = tasks.magnify_sample(3, 64, m=3.0, blur_radius_px=(4.0, 4.0))
    np.testing.assert_array_equal(same["wide"], out["wide"])


def test_aperture_stack_has_m_2_3_4() -> None:
    out = tasks.aperture_stack(1, S)
    _check(out)
    assert out["wide"].shape == (3, S, S, 3)
    np.testing.assert_array_equal(out["m"], [2, 3, 4])


def test_focal_stack_is_ordered_near_to_far() -> None:
    out = tasks.focal_stack_sample(2, S)
    _check(out)
    f = out["focus_disparities"]
    assert out["slices"].shape == (10, S, S, 3) and f.shape == (10,)
    assert np.all(np.diff(f) < 0)
    assert f[0] == pytest.approx(out["disparity"].max()) and f[-1] == pytest.approx(out["disparity"].min())


def test_focal_stack_sharpness_moves_from_near_to_far() -> None:
    rng = np.random.default_rng(0)
    size = (40, 40)
    ones = np.ones(size, np.float32)
    square = np.zeros(size, np.float32)
    square[10:30, 10:30] = 1.0
    scene = Scene([Layer(rng.random(size + (3,)).astype(np.float32), ones, np.full(size, 0.1, np.float32), opaque=True),
                   Layer(rng.random(size + (3,)).astype(np.float32), square, np.full(size, 0.9, np.float32))], size)
    out = tasks.focal_stack(scene, 6.0)
    inner = np.zeros(size, bool)
    inner[14:26, 14:26] = True  # the near square, away from its edges
    outer = np.ones(size, bool)
    outer[4:36, 4:36] = False  # the far background, beyond the square's blur
    near_err = [float(np.abs(s - out["all_in_focus"])[inner].mean()) for s in out["slices"]]
    far_err = [float(np.abs(s - out["all_in_focus"])[outer].mean()) for s in out["slices"]]
    assert near_err[0] < 1e-5 and far_err[-1] < 1e-5
    assert np.all(np.diff(near_err) > 0) and np.all(np.diff(far_err) < 0)


def test_focal_stack_subset_matches_full_stack() -> None:
    full = tasks.focal_stack_sample(8, 16)
    pair = tasks.focal_stack_sample(8, 16, slice_indices=(7, 2))
    np.testing.assert_array_equal(pair["slices"], full["slices"][[7, 2]])
    np.testing.assert_array_equal(pair["slice_indices"], [7, 2])
    with pytest.raises(ValueError, match="slice_indices"):
        tasks.focal_stack_sample(8, 16, slice_indices=(10,))


def test_defocus_map_sample_is_unsigned_coc() -> None:
    out = tasks.defocus_map_sample(3, S)
    _check(out)
    assert out["coc_radius_px"].min() >= 0
    np.testing.assert_allclose(out["coc_radius_px"], np.abs(out["coc_signed_px"]))
    assert out["coc_radius_px"].max() <= 10.0 + 1e-4


def test_syndof_sample_labels_and_sampling() -> None:
    out = tasks.syndof_sample(5, S)
    _check(out)
    k, f = float(out["blur_radius_px"]), float(out["focus_disparity"])
    np.testing.assert_allclose(out["coc_radius_px"], k * np.abs(out["disparity"] - f), atol=1e-5)
    assert out["coc_radius_px"].max() <= 10.0 + 1e-4
    d = out["disparity"]
    assert d.min() - 1e-6 <= f <= d.max() + 1e-6


def test_syndof_from_rgbd_pair_crops_and_keeps_focus_sharp() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((40, 50, 3)).astype(np.float32)
    depth = np.full((40, 50), 0.5, np.float32)
    out = tasks.syndof_sample(1, (24, 30), image=image, disparity=depth)
    assert out["image"].shape == (24, 30, 3)
    np.testing.assert_allclose(out["image"], out["sharp"], atol=2e-6)  # one depth: always in focus
    with pytest.raises(ValueError, match="disparity"):
        tasks.syndof_sample(1, 8, image=image, disparity=depth[:10])


def test_layered_gaussian_blur_blurs_out_of_focus_layer_only() -> None:
    image = np.zeros((32, 32, 3), np.float32)
    image[:, ::2] = 1.0
    disp = np.zeros((32, 32), np.float32)
    disp[:, 16:] = 1.0
    out = tasks.layered_gaussian_blur(image, disp, 1.0, 8.0)
    np.testing.assert_allclose(out[:, 20:], image[:, 20:], atol=1e-6)
    assert np.ptp(out[8:24, 2:10]) < 0.1


def test_deeplens_sample_contract() -> None:
    out = tasks.deeplens_sample(6, S)
    _check(out)
    assert set(out) >= {"image", "depth", "depth_corrupted", "focus_depth", "blur_radius_px", "target", "segmentation"}
    assert set(np.unique(out["segmentation"])) <= {0.0, 1.0}
    fg = out["segmentation"] > 0
    assert out["depth"][fg].min() > out["depth"][~fg].max()  # both planes stand in front of the background
    assert not np.array_equal(out["depth_corrupted"], out["depth"])
    assert np.mean(out["depth_corrupted"] != out["depth"]) < 0.3  # corrupted near edges only


def test_samplers_are_deterministic_per_seed_and_index() -> None:
    for name, fn in tasks.SAMPLERS.items():
        if name in ("refocus", "aperture-stack"):
            continue
        a, b, c = fn((7, 0), 16), fn((7, 0), 16), fn((7, 1), 16)
        first = next(iter(a))
        np.testing.assert_array_equal(a[first], b[first])
        assert not np.array_equal(a[first], c[first]), name


def test_depth_scene_sample_contract() -> None:
    out = tasks.depth_scene_sample(3, S)
    _check(out)
    assert set(out) == {"image", "depth", "segmentation"}
    assert set(np.unique(out["segmentation"])) <= {0.0, 1.0}
    fg = out["segmentation"] > 0
    assert fg.any() and (~fg).any()
    assert out["depth"][fg].min() >= np.median(out["depth"][~fg])  # the mask holds the nearest things


def test_depth_scene_sample_mixes_photographic_scenes_and_composites() -> None:
    scenes = [tasks.depth_scene_sample((5, i), 48, composite_share=0.0) for i in range(6)]
    # photographic scenes: more than the composites' three depth planes (ground, sky, objects)
    assert max(len(np.unique(s["depth"])) for s in scenes) > 10
    composites = [tasks.depth_scene_sample((5, i), 48, composite_share=1.0) for i in range(6)]
    for s in composites:
        fg = s["segmentation"] > 0
        assert s["depth"][fg].min() > s["depth"][~fg].max()


def test_depth_close_ups_fill_the_frame_with_a_rounded_near_subject() -> None:
    for i in range(4):
        s = tasks.depth_scene_sample((9, i), 64, composite_share=0.0, closeup_share=1.0)
        subject = s["segmentation"] > 0
        assert subject.mean() > 0.15
        assert s["depth"][subject].min() > s["depth"][~subject].max()
        assert np.ptp(s["depth"][subject]) > 0.01  # rounded, not a flat card


def test_depth_shallow_dof_photos_blur_what_lies_behind_the_subject() -> None:
    from defocus_cli.ops.focus import sml

    sharper_subject = 0
    for i in range(4):
        s = tasks.depth_scene_sample((11, i), 64, composite_share=0.0, closeup_share=1.0, dof_share=1.0)
        sharp = tasks.depth_scene_sample((11, i), 64, composite_share=0.0, closeup_share=1.0)
        subject = s["segmentation"] > 0
        if not subject.any() or subject.all():
            continue
        # the same scene, mirrored or not (the blur draw moves the mirror draw)
        assert np.allclose(np.sort(s["depth"].ravel()), np.sort(sharp["depth"].ravel()))
        loss = sml(sharp["image"]) - sml(s["image"])
        sharper_subject += float(loss[~subject].mean()) > float(loss[subject].mean())
    assert sharper_subject >= 3  # the background loses more detail than the subject in focus


def test_depth_dof_share_off_keeps_the_all_in_focus_scenes() -> None:
    a = tasks.depth_scene_sample((12, 0), 48, composite_share=0.0)
    b = tasks.depth_scene_sample((12, 0), 48, composite_share=0.0, dof_share=0.0)
    assert np.array_equal(a["image"], b["image"])
