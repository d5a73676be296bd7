"""Tests for defocus_cli/ops/views.py: the mean over mirrored (and shifted) views."""

from __future__ import annotations

import numpy as np
import pytest

from defocus_cli.ops.views import (
    PASSES,
    averaged_over_views,
    check_passes,
    flip_averaged,
    flip_averaged_feed,
    listed_view_shifts,
    mirror,
)


def _image(h: int = 12, w: int = 20) -> np.ndarray:
    return np.random.default_rng(0).random((h, w, 3)).astype(np.float32)


def test_each_view_is_put_back_in_place_before_the_mean() -> None:
    image = _image()
    seen = []

    def red(view: np.ndarray) -> np.ndarray:
        seen.append(view.shape)
        return view[..., 0].copy()

    np.testing.assert_allclose(averaged_over_views(red, image, shifts_px=(0, 3)), image[..., 0], atol=1e-6)
    assert seen == [(12, 20, 3), (15, 23, 3), (12, 20, 3), (15, 23, 3)]


def test_an_error_that_flips_with_the_mirror_cancels() -> None:
    # An estimator biased towards its left edge: the mirror's bias is on the other side.
    image = _image()
    ramp = np.linspace(1.0, 0.0, image.shape[1], dtype=np.float32)[None, :]
    biased = averaged_over_views(lambda view: view[..., 0] + ramp, image)
    np.testing.assert_allclose(biased, image[..., 0] + 0.5, atol=1e-6)


def test_the_result_is_mirror_equivariant() -> None:
    image = _image()

    def lopsided(view: np.ndarray) -> np.ndarray:
        return np.cumsum(view[..., 1], axis=1)

    direct = averaged_over_views(lopsided, image, shifts_px=(0, 4))
    mirrored = averaged_over_views(lopsided, image[:, ::-1].copy(), shifts_px=(0, 4))
    np.testing.assert_allclose(mirrored, direct[:, ::-1], atol=1e-4)


def _ramp_network(x: np.ndarray) -> np.ndarray:
    """Not mirror-symmetric: adds a ramp that grows to the right and downwards."""
    rows, cols = np.mgrid[0:x.shape[0], 0:x.shape[1]].astype(np.float32)
    return x + (cols + 10 * rows)[..., None]


def test_one_pass_is_the_network_itself() -> None:
    image = np.random.default_rng(0).random((5, 7, 3), dtype=np.float32)
    np.testing.assert_array_equal(flip_averaged(_ramp_network, image, 1), _ramp_network(image))


@pytest.mark.parametrize(("passes", "rows_mean", "cols_mean"), [(2, False, True), (4, True, True)])
def test_passes_average_the_mirrored_outputs(passes: int, rows_mean: bool, cols_mean: bool) -> None:
    image = np.random.default_rng(1).random((5, 7, 3), dtype=np.float32)
    out = flip_averaged(_ramp_network, image, passes)
    # The ramp averages to its mean along every mirrored axis; the image itself is kept.
    cols = np.full(7, 3.0) if cols_mean else np.arange(7.0)
    rows = np.full(5, 2.0) if rows_mean else np.arange(5.0)
    expected = image + (cols[None, :] + 10 * rows[:, None])[..., None]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_mirror_is_its_own_inverse_and_flips_the_named_axes() -> None:
    a = np.arange(12).reshape(3, 4)
    assert mirror(a, True, False)[0, 0] == 8 and mirror(a, False, True)[0, 0] == 3
    np.testing.assert_array_equal(mirror(mirror(a, True, True), True, True), a)


def test_feed_mirrors_images_together_and_passes_constants_unchanged() -> None:
    image = np.random.default_rng(2).random((6, 4, 3), dtype=np.float32)
    plane = np.random.default_rng(3).random((6, 4), dtype=np.float32)
    seen: list[float] = []

    def network(feed: dict[str, np.ndarray]) -> np.ndarray:
        seen.append(float(feed["delta"]))
        return feed["image"] * feed["plane"][..., None] + feed["delta"]

    out = flip_averaged_feed(network, {"image": image, "plane": plane, "delta": np.float32(3)}, 4)
    # An equivariant network is unchanged by the ensemble when all its images mirror together.
    np.testing.assert_allclose(out, image * plane[..., None] + 3, rtol=1e-6)
    assert seen == [3.0] * 4


@pytest.mark.parametrize("bad", [0, 3, 8, 2.0, True, "4"])
def test_other_pass_counts_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="passes must be one of 1, 2, 4"):
        check_passes(bad)
    assert [check_passes(p) for p in PASSES] == list(PASSES)


def test_listed_view_shifts_reads_a_models_extra_or_falls_back_to_the_default():
    assert listed_view_shifts({}, (8,)) == (0, 8)
    assert listed_view_shifts({"view_shifts_px": [4]}, (8,)) == (0, 4)
    assert listed_view_shifts({"view_shifts_px": [0]}, (8,)) == (0,)  # the mirror alone
    assert listed_view_shifts({"view_shifts_px": [6, 2, 6]}) == (0, 2, 6)
    for bad in ([-4], [2.5], "4", [True], 4):
        with pytest.raises(ValueError, match="view_shifts_px"):
            listed_view_shifts({"view_shifts_px": bad})
