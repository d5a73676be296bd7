"""Tests for defocus_cli/ops/views.py: the mean over mirrored and shifted views."""

from __future__ import annotations

import numpy as np

from defocus_cli.ops.views import averaged_over_views


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
