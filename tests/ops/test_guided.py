import cv2
import numpy as np
import pytest

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


def _full_resolution_upsample(guide: np.ndarray, low: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Joint upsampling with whole-image coefficient maps (the memory-hungry reference)."""
    from defocus_cli.ops.guided import _apply, _box, _coefficients

    h, w = guide.shape[:2]
    hl, wl = low.shape
    guide_low = cv2.resize(guide, (wl, hl), interpolation=cv2.INTER_AREA)
    radius_low = max(1, int(round(radius / max(h / hl, w / wl))))
    a, b = _coefficients(guide_low, low, radius_low, eps)
    a, b = _box(a, radius_low), _box(b, radius_low)
    return _apply(guide, cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR),
                  cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR))


def test_banded_upsampling_equals_whole_image(monkeypatch) -> None:
    from defocus_cli.ops import guided

    monkeypatch.setattr(guided, "BAND_ROWS", 7)  # many bands, one not full, on odd sizes
    rng = np.random.default_rng(2)
    for channels in (1, 3):
        guide = cv2.GaussianBlur(rng.random((61, 83, 3)).astype(np.float32), (0, 0), 1.5)
        guide = guide[..., 0] if channels == 1 else guide
        low = rng.random((17, 23)).astype(np.float32)
        np.testing.assert_allclose(guided_upsample(guide, low, 6, 1e-3),
                                   _full_resolution_upsample(guide, low, 6, 1e-3), atol=1e-4)


@pytest.mark.parametrize("eps", [1e-5, 1e-8])
def test_flat_and_grey_colour_guides_stay_finite_at_small_eps(eps: float) -> None:
    # A grey or flat window's colour covariance is singular: only eps keeps the 3x3 solve
    # finite, and its float32 cofactors must stay consistent enough to give a bounded result.
    rng = np.random.default_rng(3)
    grey = np.repeat(rng.random((40, 40, 1), dtype=np.float32), 3, axis=2)
    flat = np.full((40, 40, 3), 0.5, np.float32)
    src = rng.random((40, 40), dtype=np.float32)
    for guide in (grey, flat):
        with np.errstate(divide="raise", invalid="raise"):
            out = guided_filter(guide, src, 4, eps)
        assert np.isfinite(out).all() and out.min() >= -0.5 and out.max() <= 1.5


def test_non_positive_eps_is_refused() -> None:
    with pytest.raises(ValueError, match="eps must be positive"):
        guided_filter(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.float32), 2, 0.0)
