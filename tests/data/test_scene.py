"""Tests for defocus_cli/data/scene.py: layered scenes and objects standing on the ground."""

from __future__ import annotations

import numpy as np

from defocus_cli.data.scene import _stand_on, random_scene


def test_stand_on_moves_a_shape_onto_its_ground_row() -> None:
    alpha = np.zeros((64, 64), np.float32)
    alpha[10:20, 5:15] = 1.0
    moved = _stand_on(alpha, 40.0)
    rows = np.nonzero(moved.max(axis=1) > 0.5)[0]
    assert rows[-1] == 40 and moved.sum() == alpha.sum()


def test_stand_on_leaves_a_shape_that_would_leave_the_frame() -> None:
    alpha = np.zeros((64, 64), np.float32)
    alpha[0:1, 5:15] = 1.0  # its lowest row is 0: a ground row of 65 is a move of 65 rows
    np.testing.assert_array_equal(_stand_on(alpha, 65.0), alpha)
    np.testing.assert_array_equal(_stand_on(alpha, None), alpha)


def test_random_scenes_build_at_small_sizes() -> None:
    for seed in range(40):  # small frames once pushed standing shapes a full frame down
        scene = random_scene(np.random.default_rng(seed), (64, 64))
        assert scene.layers and scene.layers[0].opaque
