import cv2
import numpy as np

from defocus_cli.ops.guided import guided_filter, guided_upsample


def test_edge_preserved_flat_noise_smoothed():
    rng = np.random.default_rng(0)
    guide = np.zeros((64, 64), np.float32)
    guide[:, 32:] = 1.0
    src = guide + rng.normal(0, 0.1, guide.shape).astype(np.float32)
    out = guided_filter(guide, src, 4, 1e-3)
    assert out[:, 36:].std() < 0.5 * src[:, 36:].std()
    assert out[:, 33:].mean() - out[:, :31].mean() > 0.95


def test_colour_guide_matches_gray_guide_on_gray_images():
    rng = np.random.default_rng(1)
    gray = cv2.GaussianBlur(rng.random((48, 48)).astype(np.float32), (0, 0), 2)
    src = rng.random((48, 48)).astype(np.float32)
    a = guided_filter(gray, src, 3, 1e-2)
    b = guided_filter(np.repeat(gray[..., None], 3, axis=2), src, 3, 3e-2)
    # A gray colour guide has a singular covariance; eps regularizes it to the gray answer
    # with eps tripled (the three equal channels add their variances).
    np.testing.assert_allclose(a, b, atol=2e-3)


def test_joint_upsampling_snaps_to_guide_edges():
    guide = np.zeros((128, 128, 3), np.float32)
    guide[:, 61:] = 1.0  # edge not on the low-res grid
    low = cv2.resize(guide[..., 0], (16, 16), interpolation=cv2.INTER_AREA)
    up = guided_upsample(guide, low, radius=16, eps=1e-3)
    assert up.shape == (128, 128)
    assert up[:, :58].max() < 0.1 and up[:, 64:].min() > 0.9
    naive = cv2.resize(low, (128, 128), interpolation=cv2.INTER_LINEAR)
    assert np.abs(up - guide[..., 0]).mean() < 0.5 * np.abs(naive - guide[..., 0]).mean()
