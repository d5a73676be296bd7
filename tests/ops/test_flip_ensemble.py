"""Tests for defocus_cli/ops/flip_ensemble.py."""

from __future__ import annotations

import numpy as np
import pytest

from defocus_cli.ops.flip_ensemble import PASSES, check_passes, flip_averaged, flip_averaged_feed, mirror


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
