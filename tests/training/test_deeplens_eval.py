"""Tests for defocus_cli/training/eval_deeplens.py (seed 003 tables)."""

from __future__ import annotations

import numpy as np
import pytest

from defocus_cli.training.eval_deeplens import (
    aligned_abs_rel,
    depth_mae,
    ground_plane_prior,
    naive_gather_blur,
    rank_correlation,
    real_photo_depth_table,
    signed_input,
    spline_fit,
)
from defocus_cli.training.evaluate import EVAL_SAMPLERS, EvalData, Predictor, get_table


def test_spline_fit_removes_monotone_distortions_but_not_noise() -> None:
    rng = np.random.default_rng(0)
    gt = rng.random((16, 16))
    assert depth_mae(gt**2, gt) < 0.02  # a monotone warp is (nearly) fitted away
    assert depth_mae(1 - gt, gt) < 1e-6  # an inverted map too (aperture-supervised case)
    assert depth_mae(rng.random((16, 16)), gt) > 0.15
    assert np.allclose(spline_fit(np.full((4, 4), 0.3), gt[:4, :4]), gt[:4, :4].mean())


def test_signed_input_scales_and_clips_alpha() -> None:
    d = np.full((2, 2), 0.8, np.float32)
    out, clipped = signed_input(d, 0.3, 5.0, 10.0)
    assert np.allclose(out, 0.25) and not clipped
    out, clipped = signed_input(d, 0.3, 20.0, 10.0)
    assert np.allclose(out, 0.5) and clipped


def test_ground_plane_prior_is_nearer_at_the_bottom() -> None:
    prior = ground_plane_prior(np.zeros((5, 3, 3)))
    assert prior[0, 0] == 0.0 and prior[-1, 0] == 1.0


def _samples(count: int = 2) -> list[dict[str, np.ndarray]]:
    return [EVAL_SAMPLERS["lens-blur"](np.random.default_rng(i), (32, 32), i) for i in range(count)]


def test_depth_table_with_an_oracle(tmp_path) -> None:
    samples = _samples()
    for i, s in enumerate(samples):
        # The depth is the image's red channel, so an oracle reading it is exact on every view
        # the table averages (mirrored and shifted, padding included).
        np.savez(tmp_path / f"{i}.npz", **{**s, "depth": s["image"][..., 0]})
    oracle = Predictor(lambda x: x["image"][..., :1], ["image"], "oracle")
    (table,) = get_table("depth")(oracle, EvalData(None, folder=tmp_path, count=0))
    assert table.rows[1][0].endswith("averaged with its mirror")
    assert table.rows[2][0].endswith("half-stride shift (4 views)")
    for row in table.rows[:3]:
        assert row[1] == pytest.approx(0.0, abs=1e-6)
    assert table.rows[3][1] > 0.01  # the constant map
    # An export that lists its views (defocus export --view-shift) is scored with those.
    calls = []
    listed = Predictor(lambda x: calls.append(1) or x["image"][..., :1], ["image"], "listed",
                       {"view_shifts_px": [0]})
    (table,) = get_table("depth")(listed, EvalData(None, folder=tmp_path, count=0))
    assert table.rows[2][0].endswith("2 views")
    assert len(calls) == len(samples) * (1 + 2 + 2)


def test_lens_blur_tables_layout_and_identity_row(tmp_path) -> None:
    samples = _samples()
    for i, s in enumerate(samples):
        np.savez(tmp_path / f"{i}.npz", **s)

    def passthrough(inputs):  # returns the input: must score exactly like the identity row
        return inputs["image"]

    model = Predictor(passthrough, ["image", "signed_depth"], "passthrough", {"max_blur_radius_px": 10.0})
    t2, t3 = get_table("lens-blur")(model, EvalData(None, folder=tmp_path, count=0))
    assert [r[0] for r in t3.rows] == ["GT", "Corrupted"]
    assert [r[0] for r in t2.rows][:3] == ["Identity (all-in-focus input)", "Naive per-pixel gather blur + GT depth",
                                          "Classical layered renderer + GT depth"]
    assert t2.rows[3][1:] == pytest.approx(t2.rows[0][1:])
    assert t2.rows[2][1] > t2.rows[0][1]  # the classical renderer beats doing nothing
    assert t2.rows[1][1] > t2.rows[0][1]  # and so does the naive gather, by less or more


def test_rank_correlation_and_aligned_abs_rel_known_answers() -> None:
    rng = np.random.default_rng(1)
    gt = rng.uniform(5, 60, 500)
    assert rank_correlation(np.log(gt), gt) == pytest.approx(1.0)  # any increasing map
    assert rank_correlation(-gt, gt) == pytest.approx(-1.0)
    assert abs(rank_correlation(rng.random(500), gt)) < 0.15
    assert aligned_abs_rel(0.02 * gt - 0.3, gt) == pytest.approx(0.0, abs=1e-9)  # scale and shift removed
    assert aligned_abs_rel(rng.random(500), gt) > 0.2


def test_naive_gather_blur_keeps_focus_and_bleeds_into_the_background() -> None:
    image = np.zeros((40, 40, 3), np.float32)
    image[:, :20] = 1.0  # a bright subject on the left half
    depth = np.zeros((40, 40), np.float32)
    depth[:, :20] = 1.0
    out = naive_gather_blur(image, depth, 1.0, 6.0)
    np.testing.assert_array_equal(out[:, :20], image[:, :20])  # in focus: untouched
    assert out[20, 20:23].min() > 0.1  # the sharp subject leaks into the blurred background


def test_real_photo_depth_table_ranks_an_oracle_first() -> None:
    import cv2
    import skimage.data

    disparity = skimage.data.stereo_motorcycle()[2]
    filled = np.where(np.isfinite(disparity), disparity, 0.0).astype(np.float32)

    def oracle(inputs):
        image = inputs["image"]
        h, w = image.shape[:2]
        truth = cv2.resize(filled, (w, h), interpolation=cv2.INTER_AREA)
        # The photo is brighter on its left third than its right: the mirrored view is not.
        mirrored = image[:, : w // 3].mean() < image[:, -(w // 3):].mean()
        return (truth[:, ::-1] if mirrored else truth)[..., None]

    table = real_photo_depth_table(Predictor(oracle, ["image"], "oracle"))
    ours = [row for row in table.rows if row[0].startswith("Ours")]
    prior = table.rows[-1]
    assert len(ours) >= 2 and prior[0].startswith("Classical")
    assert min(row[1] for row in ours) > 0.85 > prior[1]
    assert max(row[2] for row in ours) < prior[2]
