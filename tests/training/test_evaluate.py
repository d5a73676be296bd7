"""Tests for defocus_cli/training/evaluate.py: metrics, table registry, paper layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defocus_cli.errors import UsageError
from defocus_cli.training.evaluate import (
    PSNR_CAP_DB,
    EvalData,
    Predictor,
    Table,
    composite_all_in_focus,
    deblur_table,
    focal_stack_eval_sample,
    get_table,
    image_metrics,
    refocus_table,
    register_table,
)


def test_image_metrics_cap_identical_and_rank_quality():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 24, 32)
    same = image_metrics(x, x)
    assert same["psnr"] == PSNR_CAP_DB and same["ssim"] == pytest.approx(1.0)
    noisy = image_metrics((x + 0.05 * torch.randn_like(x)).clamp(0, 1), x)
    assert 20 < noisy["psnr"] < 40 and noisy["ssim"] < 1


def test_table_registry_refuses_duplicates_and_unknown_tasks():
    assert get_table("magnify") is get_table("magnify")
    with pytest.raises(ValueError, match="twice"):
        register_table("magnify")(lambda model, data: [])
    with pytest.raises(UsageError):
        get_table("no-such-task")


def test_table_render_aligns_columns():
    t = Table("T", ["Method", "PSNR"], [["Identity", 30.123], ["Model", 0.5]], notes=["n"])
    lines = t.render().splitlines()
    assert lines[0] == "T" and lines[3].startswith("Identity") and "30.12" in lines[3] and "0.500" in lines[4]
    assert lines[-1].strip() == "n"


def test_composite_all_in_focus_picks_the_sharp_slice():
    rng = np.random.default_rng(0)
    sharp = rng.random((32, 32, 3)).astype(np.float32)
    flat = np.full_like(sharp, 0.5)
    stack = np.stack([flat, sharp])
    assert np.abs(composite_all_in_focus(stack) - sharp)[8:-8, 8:-8].max() == 0.0


def _oracle(kind: str) -> Predictor:
    """A stand-in model that returns a known answer, so each table row is checkable."""
    if kind == "deblur":
        return Predictor(lambda x: x["image"], ["image", "sml"], "identity-model")
    return Predictor(lambda x: x["radiance"], ["image", "radiance", "delta"], "radiance-model", {"deltas": [8]})


def test_deblur_and_refocus_tables_follow_the_seed_layouts():
    data = EvalData(focal_stack_eval_sample, size=(32, 32), count=1)
    (deblur,) = deblur_table(_oracle("deblur"), data)
    assert [r[0] for r in deblur.rows][0].startswith("Identity") and "entire stack" in deblur.rows[2][0]
    assert deblur.rows[0][1:] == deblur.rows[1][1:]  # a model that returns its input = identity row
    refocus, per_delta = refocus_table(_oracle("refocus"), data)
    assert refocus.columns == ["Experiment", "Type", "Refocus control steps", "PSNR", "SSIM"]
    assert refocus.rows[1][1] == "Two-stage" and refocus.rows[1][2] == "{+8}"
    assert any("--deblur-model" in n for n in refocus.notes)
    assert per_delta.columns == ["Method", "+8"] and per_delta.rows[0][1] == pytest.approx(refocus.rows[0][3])


def test_refocus_table_keeps_the_seed_steps_for_a_model_trained_on_every_step():
    data = EvalData(focal_stack_eval_sample, size=(32, 32), count=1)
    every_step = [d for d in range(-9, 10) if d] + [9, -9]  # repeats weight training, not the table
    model = Predictor(lambda x: x["radiance"], ["image", "radiance", "delta"], "radiance-model", {"deltas": every_step})
    refocus, per_delta = refocus_table(model, data)
    assert refocus.rows[1][2] == "{-9, -5, +5, +9}"
    assert per_delta.columns[1:] == [f"{d:+d}" for d in range(-9, 10) if d]
    seed_steps = [per_delta.columns.index(f"{d:+d}") for d in (-9, -5, 5, 9)]
    assert refocus.rows[0][3] == pytest.approx(np.mean([per_delta.rows[0][i] for i in seed_steps]))


def test_mirrored_passes_add_rows_scored_as_the_commands_run():
    data = EvalData(focal_stack_eval_sample, size=(32, 32), count=1)
    (deblur,) = deblur_table(_oracle("deblur"), data, passes=4)
    assert deblur.rows[2][0] == "Ours, 4 mirrored passes averaged" and "entire stack" in deblur.rows[3][0]
    assert deblur.rows[2][1:] == pytest.approx(deblur.rows[1][1:])  # the identity mirrors exactly
    refocus, per_delta = refocus_table(_oracle("refocus"), data, deblur=_oracle("deblur"), passes=2)
    assert refocus.rows[-1][0] == "The same, each network with 2 mirrored passes averaged"
    # This G2 returns the radiance, here G1's: the input slice, mirrored and back.
    assert refocus.rows[-1][3:] == pytest.approx(refocus.rows[0][3:])
    assert per_delta.rows[-1][0].endswith("2 mirrored passes averaged")


def test_passes_are_refused_for_tasks_whose_commands_do_not_average():
    from defocus_cli.training import evaluate as evaluate_module

    with pytest.raises(UsageError, match="--passes"):
        evaluate_module.evaluate("depth", "missing.onnx", passes=2)


def test_focal_stack_evaluation_follows_the_models_training_blur(monkeypatch):
    from defocus_cli.training import evaluate as evaluate_module

    seen = {}

    def table(model, data):
        seen["stack"] = next(data.samples("test"))
        return []

    model = Predictor(lambda x: x["image"], ["image", "sml"], "m", {"training_blur_radius_px": [2.0, 3.0]})
    monkeypatch.setattr(evaluate_module, "get_table", lambda task: table)
    monkeypatch.setattr(evaluate_module.Predictor, "load", staticmethod(lambda path: model))
    evaluate_module.evaluate("deblur", "m.onnx", size=(32, 32), count=1)
    assert 2.0 <= float(seen["stack"]["blur_radius_px"]) <= 3.0


def test_eval_data_folder(tmp_path):
    sample = focal_stack_eval_sample(np.random.default_rng(0), (32, 32), 0)
    np.savez(tmp_path / "a.npz", **sample)
    data = EvalData(None, folder=tmp_path, count=0)
    assert data.splits() == ["test"] and len(list(data.samples("test"))) == 1
    with pytest.raises(UsageError):
        list(EvalData(None, folder=tmp_path / "empty", count=0).samples("test"))


def test_refocus_all_steps_scores_untrained_steps_as_the_command_blends_them():
    data = EvalData(focal_stack_eval_sample, size=(32, 32), count=1)
    model = Predictor(lambda x: x["radiance"], ["image", "radiance", "delta"], "radiance-model",
                      {"deltas": [-9, -5, 5, 9]})
    _, trained_only = refocus_table(model, data)
    refocus, per_delta = refocus_table(model, data, all_steps=True)
    assert refocus.rows[1][2] == "{-9, -5, +5, +9}"
    assert per_delta.columns[1:] == [f"{d:+d}" for d in range(-9, 10) if d]
    assert per_delta.rows[1][1] == pytest.approx(trained_only.rows[1][1])  # -9 comes first in both
    # delta 1 is 0.8 x the slice + 0.2 x step 5 (here the radiance): between identity and the truth
    identity, blended = per_delta.rows[0][10], per_delta.rows[1][10]
    assert blended != pytest.approx(identity)


def test_all_steps_is_refused_for_other_tasks():
    from defocus_cli.training import evaluate as evaluate_module

    with pytest.raises(UsageError, match="--all-steps"):
        evaluate_module.evaluate("deblur", "missing.onnx", all_steps=True)


def test_real_photo_magnify_table_ranks_the_true_map_above_the_identity():
    from defocus_cli.data.real_scenes import middlebury_aperture_pairs
    from defocus_cli.pipelines.magnify import magnify
    from defocus_cli.training.evaluate import real_photo_magnify_table

    truth = {pair["narrow"].tobytes(): np.abs(pair["coc_radius_px"])
             for pair in middlebury_aperture_pairs(long_side=192, magnifications=(1.0,))}
    methods = {"identity": lambda x, m: x,
               "true map": lambda x, m: magnify(x, m, defocus_map_px=truth[x.tobytes()], grain=False)}
    said = []
    table = real_photo_magnify_table(methods, long_side=192, progress=said.append)
    assert said[0] == "rendering the real photo's aperture pairs" and said[1:] == [f"real photo pair {i}/18" for i in range(1, 19)]
    identity, true_map = table.rows
    assert table.columns[1:4] == ["m=2 PSNR", "m=2 SSIM", "m=2 in-focus PSNR"]
    for i in (1, 4, 7):  # PSNR at m = 2, 3, 4: the true map magnifies, the identity does not
        assert true_map[i] > identity[i] + 1.0
    assert identity[1] > identity[4] > identity[7]  # the wider the aperture, the further from the input
    assert "18 pairs of the 192x130 photo" in table.notes[0]


def test_eval_data_tells_its_progress_before_each_sample():
    said = []
    data = EvalData(lambda rng, size, i: {"i": i}, count=3, progress=said.append)
    assert [s["i"] for s in data.samples("test")] == [0, 1, 2]
    assert said == ["test sample 1/3", "test sample 2/3", "test sample 3/3"]
    assert list(EvalData(lambda rng, size, i: {"i": i}, count=2).samples("train")) == [{"i": 0}, {"i": 1}]
