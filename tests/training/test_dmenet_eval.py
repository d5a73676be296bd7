"""Tests for defocus_cli/training/eval_dmenet.py (seed 002 tables)."""

from __future__ import annotations

import numpy as np
import pytest

from defocus_cli.pipelines.defocus_learned import VIEW_SHIFTS_PX
from defocus_cli.training.eval_dmenet import STRIDE, binarize, blur_accuracy, map_errors, run_padded
from defocus_cli.training.evaluate import EVAL_SAMPLERS, EvalData, Predictor, get_table


def test_binarize_uses_tau_0_3_max_0_7_min() -> None:
    m = np.array([[2.0, 4.0, 5.0, 12.0]])  # tau = 0.3 * 12 + 0.7 * 2 = 5.0
    assert binarize(m).tolist() == [[False, False, False, True]]
    assert not binarize(np.full((3, 3), 7.0)).any()  # constant: all sharp
    assert blur_accuracy(m, np.array([[0, 0, 1, 1]])) == 0.75


def test_map_errors_known_answer() -> None:
    assert map_errors(np.zeros((2, 2)), np.full((2, 2), 2.0)) == (4.0, 2.0)


def test_run_padded_pads_to_16_and_crops_back() -> None:
    seen = []

    def fn(inputs):
        seen.append(inputs["image"].shape)
        return inputs["image"][..., :1] * 10

    image = np.random.default_rng(0).random((20, 37, 3)).astype(np.float32)
    out = run_padded(Predictor(fn, ["image"], "fake"), image)
    assert seen == [(32, 48, 3)] and out.shape == (20, 37)
    assert np.allclose(out, image[..., 0] * 10)
    assert STRIDE == 16


def test_table_ranks_a_perfect_model_first(tmp_path) -> None:
    """An oracle that returns the label gets zero error and beats both baselines."""
    samples = [EVAL_SAMPLERS["defocus-map"](np.random.default_rng(i), (32, 48), i) for i in range(2)]
    for i, s in enumerate(samples):
        np.savez(tmp_path / f"{i}.npz", image=s["image"], coc_radius_px=s["coc_radius_px"])
    lookup = {s["image"].tobytes(): s["coc_radius_px"] for s in samples}
    for s in samples:  # the views the pipeline's average feeds: mirrored, shifted, both
        for mirrored in (False, True):
            image, label = (s["image"][:, ::-1], s["coc_radius_px"][:, ::-1]) if mirrored else (s["image"], s["coc_radius_px"])
            for shift in VIEW_SHIFTS_PX:
                pad = ((shift, 0), (shift, 0))
                shifted = np.pad(image, (*pad, (0, 0)), mode="symmetric")
                lookup[np.ascontiguousarray(shifted).tobytes()] = np.pad(label, pad, mode="symmetric")

    def oracle(inputs):
        for h, w in ((32, 48), (32 + max(VIEW_SHIFTS_PX), 48 + max(VIEW_SHIFTS_PX))):  # plain or shifted views, before padding
            label = lookup.get(np.ascontiguousarray(inputs["image"][:h, :w]).tobytes())
            if label is not None:
                return np.pad(label, ((0, inputs["image"].shape[0] - h), (0, inputs["image"].shape[1] - w)))[..., None]
        raise AssertionError("the oracle was fed a view it does not know")

    tables = get_table("defocus-map")(Predictor(oracle, ["image"], "oracle"), EvalData(None, folder=tmp_path, count=0))
    errors, accuracy = tables
    for oracle_row in errors.rows[:3]:  # one pass, with its mirror, over the pipeline's four views
        assert oracle_row[1] == pytest.approx(0.0) and oracle_row[2] == pytest.approx(0.0)
    assert "mirror" in errors.rows[1][0] and "shift" in errors.rows[2][0]
    assert errors.rows[3][1] > 0 and "Classical" in errors.rows[4][0]
    assert errors.columns[3] == "RMSE (px)"
    for row in errors.rows:
        assert row[3] == pytest.approx(row[1] ** 0.5)
    assert accuracy.rows[0][1] >= max(accuracy.rows[3][1], accuracy.rows[4][1])


def test_the_pipeline_row_runs_the_views_the_export_lists(monkeypatch) -> None:
    from defocus_cli.training import eval_dmenet

    real_photo = []
    monkeypatch.setattr(eval_dmenet, "real_photo_defocus_map_table",
                        lambda model, progress=None: real_photo.append(model) or "real")
    calls = []

    def fn(inputs):
        calls.append(inputs["image"].shape)
        return inputs["image"][..., :1]

    data = EvalData(EVAL_SAMPLERS["defocus-map"], size=(32, 48), count=1, seed=0)
    listed = Predictor(fn, ["image"], "listed", metadata={"view_shifts_px": [0]})
    errors, _, real = get_table("defocus-map")(listed, data)
    assert real == "real" and real_photo == [listed]  # the default split adds the real photo
    assert len(calls) == 1 + 2 + 2  # one pass, the mirror pair, and the listed views: the pair again
    assert "2 views" in errors.rows[2][0]
    calls.clear()
    get_table("defocus-map")(Predictor(fn, ["image"], "default"), data)
    assert len(calls) == 1 + 2 + 4  # without a list: the mirror and half-stride shift


def test_real_photo_table_scores_renders_of_the_motorcycle_against_their_true_map() -> None:
    from defocus_cli.data.real_scenes import middlebury_aperture_pairs
    from defocus_cli.training.eval_dmenet import real_photo_defocus_map_table

    truth = {pair["narrow"].tobytes(): np.abs(pair["coc_radius_px"])
             for pair in middlebury_aperture_pairs(long_side=192, magnifications=(1.0,))}

    def oracle(inputs):
        h, w = next(iter(truth.values())).shape
        return np.pad(truth[np.ascontiguousarray(inputs["image"][:h, :w]).tobytes()],
                      ((0, inputs["image"].shape[0] - h), (0, inputs["image"].shape[1] - w)))[..., None]

    table = real_photo_defocus_map_table(Predictor(oracle, ["image"], "oracle"), long_side=192)
    rows = {row[0].split(":")[0]: row[1:] for row in table.rows}
    assert set(rows) == {"DMENet (ours)", "Identity", "Classical"}  # no .onnx: no command row
    assert rows["DMENet (ours)"][0] == pytest.approx(0.0, abs=1e-6)
    assert rows["Identity"][0] == pytest.approx(np.mean([t.mean() for t in truth.values()]), rel=1e-5)
    assert rows["DMENet (ours)"][2] == 1.0 > max(rows["Identity"][2], rows["Classical"][2])
    assert "6 narrow-aperture renders of the 192x130 photo" in table.notes[0]
