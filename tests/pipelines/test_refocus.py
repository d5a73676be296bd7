"""Tests for defocus_cli/pipelines/refocus.py on stand-ins with the real exports' I/O."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from defocus_cli.ops.color import smooth_chroma_change
from defocus_cli.pipelines.deblur import IMAGE_INPUT, SML_INPUT, deblur
from defocus_cli.pipelines.refocus import (
    CHROMA_SIGMA_PX,
    DELTA_INPUT,
    RADIANCE_INPUT,
    blend_passes,
    check_delta,
    delta_blend,
    reaches,
    refocus,
)
from tests.models.tiny_refocus import (
    Counting,
    box3,
    deblur_spec,
    deblur_standin,
    load,
    refocus_spec,
    refocus_standin,
    single_stage_standin,
)


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("refocus")
    return (load(folder, refocus_standin, refocus_spec()), load(folder, deblur_standin, deblur_spec()),
            load(folder, single_stage_standin, refocus_spec(single_stage=True)))


def _photo(height: int = 48, width: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 1.0)


@pytest.mark.parametrize("delta", [9, -9, 5])
def test_g2_gets_the_photo_g1s_radiance_and_delta(nets, delta: int) -> None:
    g2, g1, _ = nets
    image = _photo()
    radiance = deblur(image, g1).pixels
    result = refocus(image, delta, g2, g1)
    # G2's change, with its colour part smoothed (the pipeline's guard against colour noise)
    expected = np.clip(smooth_chroma_change(image, image + delta / 9 * (radiance - image), CHROMA_SIGMA_PX), 0, 1)
    np.testing.assert_allclose(result.pixels, expected, atol=1e-5)
    assert result.stages == 2 and result.radiance is None and result.delta == delta


@pytest.mark.parametrize(("delta", "steps"), [(3, [5]), (7, [5, 9]), (-2, [-5]), (-8, [-9, -5])])
def test_untrained_steps_blend_the_nearest_trained_ones(nets, delta: int, steps: list[int]) -> None:
    g2, g1, _ = nets
    image = _photo(seed=2)
    radiance = deblur(image, g1, passes=1).pixels
    counting = Counting(g2)
    result = refocus(image, delta, counting, g1, passes=1)
    # the stand-in is linear in delta, so the blend of its neighbours is exactly delta's output
    expected = np.clip(smooth_chroma_change(image, image + delta / 9 * (radiance - image), CHROMA_SIGMA_PX), 0, 1)
    np.testing.assert_allclose(result.pixels, expected, atol=1e-5)
    assert [step for step, _ in result.blend if step] == steps and len(counting.sizes) == len(steps)
    assert sum(weight for _, weight in result.blend) == pytest.approx(1.0)


@pytest.mark.parametrize(("delta", "g2_runs"), [(5, 4), (3, 4), (7, 4)])
def test_a_blended_step_costs_what_a_trained_one_does(nets, delta: int, g2_runs: int) -> None:
    g2, g1, _ = nets
    counting = Counting(g2)
    refocus(_photo(seed=3), delta, counting, g1, mode="tiles", passes=4)
    assert len(counting.sizes) == g2_runs  # two steps at two passes each for delta 7
    assert blend_passes(((5, 0.5), (9, 0.5)), 1) == 1 and blend_passes(((0, 0.4), (5, 0.6)), 4) == 4


def test_delta_blend_stops_at_the_last_trained_step() -> None:
    assert delta_blend(9, [8]) == ((8, 1.0),) and not reaches(9, delta_blend(9, [8]))
    assert delta_blend(-3, [8]) == ((0, 1.0),) and not reaches(-3, ((0, 1.0),))
    assert delta_blend(4, None) == ((4, 1.0),) and delta_blend(5, [5]) == ((5, 1.0),)
    assert all(reaches(d, delta_blend(d, [-9, -5, 5, 9])) for d in range(-9, 10))


def test_delta_zero_is_the_photo(nets) -> None:
    g2, g1, _ = nets
    image = _photo()
    counting = Counting(g2)
    result = refocus(image, 0, counting, g1, keep_radiance=True)
    np.testing.assert_array_equal(result.pixels, image)
    assert counting.sizes == []  # G2 never ran
    np.testing.assert_array_equal(result.radiance, deblur(image, g1).pixels)


@pytest.mark.parametrize("mode", ["tiles", "scaled"])
def test_kept_radiance_is_what_deblur_gives(nets, mode: str) -> None:
    g2, g1, _ = nets
    image = _photo(96, 80, seed=1)
    scale = 0.5 if mode == "scaled" else None
    result = refocus(image, 5, g2, g1, mode=mode, scale=scale, keep_radiance=True)
    assert result.pixels.shape == image.shape and result.scale == (scale or 1.0)
    np.testing.assert_array_equal(result.radiance, deblur(image, g1, mode=mode, scale=scale).pixels)


def test_scaled_refocus_runs_both_networks_on_the_small_copy(nets) -> None:
    g2, g1, _ = nets
    first, second = Counting(g1), Counting(g2)
    refocus(_photo(96, 80), -5, second, first, mode="scaled", scale=0.5, passes=1)
    assert first.sizes == second.sizes == [(48, 40)]


def test_single_stage_needs_no_deblur(nets) -> None:
    _, _, single = nets
    image = _photo()
    result = refocus(image, 9, single)
    assert result.stages == 1
    expected = np.clip(smooth_chroma_change(image, box3(image), CHROMA_SIGMA_PX), 0, 1)
    np.testing.assert_allclose(result.pixels[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-5)
    with pytest.raises(ValueError, match="keep_radiance"):
        refocus(image, 9, single, keep_radiance=True)


@pytest.mark.parametrize("delta", [10, -10, 2.0, True, "3", None])
def test_delta_must_be_an_integer_in_range(nets, delta: object) -> None:
    g2, g1, _ = nets
    with pytest.raises(ValueError, match="delta"):
        refocus(_photo(), delta, g2, g1)  # type: ignore[arg-type]


def test_check_delta_accepts_numpy_integers() -> None:
    assert check_delta(np.int64(-9)) == -9 and check_delta(9) == 9


def test_fed_names_are_the_exported_graphs_names() -> None:
    """The names the pipelines feed are those ``defocus export`` gives the RefocusGAN graphs."""
    pytest.importorskip("torch")
    from defocus_cli.training.config import resolve_config
    from defocus_cli.training.systems import get_system

    contracts = {name: get_system(name)(resolve_config(name, "tiny", {})).export_contract()
                 for name in ("deblur", "refocus")}
    assert [t.name for t in contracts["deblur"].inputs] == [IMAGE_INPUT, SML_INPUT]
    assert [(t.name, t.layout) for t in contracts["refocus"].inputs] == [
        (IMAGE_INPUT, "NCHW"), (RADIANCE_INPUT, "NCHW"), (DELTA_INPUT, "NC")]
    assert contracts["deblur"].inputs == deblur_spec().inputs
    assert contracts["refocus"].inputs == refocus_spec().inputs
    assert contracts["deblur"].preprocessing == contracts["refocus"].preprocessing == "srgb01"


def test_both_stages_run_once_per_pass(nets) -> None:
    g2, g1, _ = nets
    image = _photo(seed=4)
    counting_g2, counting_g1 = Counting(g2), Counting(g1)
    result = refocus(image, 5, counting_g2, counting_g1, mode="tiles", passes=4)
    assert (len(counting_g2.sizes), len(counting_g1.sizes), result.passes) == (4, 4, 4)
    single = refocus(image, 5, g2, g1, mode="tiles", passes=1).pixels
    np.testing.assert_allclose(result.pixels[2:-2, 2:-2], single[2:-2, 2:-2], atol=1e-5)
