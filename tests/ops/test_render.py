import numpy as np
import pytest

from defocus_cli.ops.bokeh import Bokeh, aperture_kernel, parse_bokeh
from defocus_cli.ops.render import layer_radii, render_from_depth, render_lens_blur


def _point(size: int = 161) -> np.ndarray:
    img = np.zeros((size, size, 3), np.float32)
    img[size // 2, size // 2] = 1.0
    return img


def _rms_disc_radius(psf: np.ndarray) -> float:
    """Radius of the uniform disc with this PSF's second moment (E[r^2] = R^2 / 2)."""
    c = psf.shape[0] // 2
    yy, xx = np.mgrid[0 : psf.shape[0], 0 : psf.shape[1]]
    m2 = float((psf * ((yy - c) ** 2 + (xx - c) ** 2)).sum() / psf.sum())
    return float(np.sqrt(2 * m2))


@pytest.mark.parametrize("radius", [2.0, 5.0, 12.0, 30.0])
@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_point_renders_disc_of_coc_radius_and_conserves_energy(radius, sign):
    img = _point()
    out = render_lens_blur(img, np.full(img.shape[:2], sign * radius, np.float32), highlights=None)
    psf = out[..., 0]
    assert psf.sum() == pytest.approx(1.0, abs=1e-3)
    assert _rms_disc_radius(psf) == pytest.approx(radius, rel=0.05, abs=0.2)
    # Nothing outside the disc (beyond the rim's resampling softness).
    c = img.shape[0] // 2
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    outside = np.hypot(yy - c, xx - c) > radius * 1.3 + 2
    assert psf[outside].sum() < 0.01


def test_thin_lens_radius_from_depth():
    img = _point()
    depth = np.full(img.shape[:2], 0.2, np.float32)
    out = render_from_depth(img, depth, focus_depth=0.7, blur_radius_px=20.0, highlights=None)
    assert _rms_disc_radius(out[..., 0]) == pytest.approx(10.0, rel=0.05)


def test_in_focus_layer_unchanged_and_no_bleed():
    rng = np.random.default_rng(0)
    img = rng.random((120, 120, 3)).astype(np.float32) * 0.2
    img[40:80, 40:80] = [1.0, 0.9, 0.1]  # bright in-focus subject on a dark background
    coc = np.full((120, 120), -12.0, np.float32)
    coc[40:80, 40:80] = 0.3  # |coc| < 0.5 px: in focus by convention
    out = render_lens_blur(img, coc, highlights=None)
    np.testing.assert_allclose(out[40:80, 40:80], img[40:80, 40:80], atol=1e-5)
    # No halo: the background right next to the subject keeps the background's colour.
    ring = np.concatenate([out[34:39, 40:80].reshape(-1, 3), out[81:86, 40:80].reshape(-1, 3)])
    assert ring.max() < 0.25


def test_blurred_foreground_spreads_over_sharp_background():
    img = np.zeros((120, 120, 3), np.float32)
    img[..., 1] = 0.5
    img[40:80, 40:80] = [1.0, 0.0, 0.0]
    coc = np.zeros((120, 120), np.float32)
    coc[40:80, 40:80] = 10.0
    out = render_lens_blur(img, coc, highlights=None)
    # Red spills outside the square, and the green background shows through its soft edge.
    assert 0.2 < out[60, 36, 0] < 0.8
    assert 0.1 < out[60, 42, 1] < 0.4
    # Far from the square, the in-focus background is untouched.
    np.testing.assert_allclose(out[:15], img[:15], atol=1e-6)


def test_highlights_become_bright_discs_in_blurred_areas_only():
    img = np.full((121, 121, 3), 0.1, np.float32)
    img[60, 60] = 1.0
    coc = np.full((121, 121), -6.0, np.float32)
    plain = render_lens_blur(img, coc, highlights=None)
    bright = render_lens_blur(img, coc, highlights=(0.8, 4.0))
    assert bright[60, 60, 0] > 3 * (plain[60, 60, 0] - 0.1) + 0.1
    assert bright[0, 0, 0] == pytest.approx(plain[0, 0, 0], abs=1e-6)
    # In focus, nothing is boosted.
    sharp = render_lens_blur(img, np.zeros((121, 121), np.float32), highlights=(0.8, 4.0))
    np.testing.assert_array_equal(sharp, img)


def test_polygon_bokeh_shape_and_rotation():
    hexagon = aperture_kernel(20.0, Bokeh(6, 0.0))
    c = hexagon.shape[0] // 2
    # A vertex points up (circumradius 20), a flat side faces right (apothem 20 cos 30 deg).
    assert hexagon[c - 19, c] > 0 and hexagon[c, c + 19] == 0
    assert hexagon[c, c + 16] > 0
    rotated = aperture_kernel(20.0, Bokeh(6, 30.0))
    assert rotated[c, c + 19] > 0 and rotated[c - 19, c] == 0
    assert hexagon.sum() == pytest.approx(1.0, abs=1e-5)
    img = _point()
    out = render_lens_blur(img, np.full(img.shape[:2], 12.0, np.float32), bokeh=Bokeh(5, 0.0), highlights=None)
    c = img.shape[0] // 2
    # A pentagon is taller above the centre (vertex) than below (flat side).
    col = out[:, c, 0] > out[c, c, 0] * 0.5
    rows = np.nonzero(col)[0]
    assert (c - rows[0]) > (rows[-1] - c)


def test_parse_bokeh():
    assert parse_bokeh("disc") == Bokeh()
    assert parse_bokeh("poly:7") == Bokeh(7, 0.0)
    with pytest.raises(ValueError):
        parse_bokeh("star")
    with pytest.raises(ValueError):
        parse_bokeh("poly:2")


def test_layer_ladder_is_prefix_stable():
    assert layer_radii(40.0)[: len(layer_radii(10.0))] == layer_radii(10.0)


def test_tiles_are_seamless():
    # The tiled path (bounded memory) must match the whole-image path: identical except where
    # the hole fill behind a blurred foreground (a per-tile push-pull) shows through.
    rng = np.random.default_rng(3)
    img = rng.random((300, 200, 3)).astype(np.float32)
    yy = np.mgrid[0:300, 0:200][0].astype(np.float32)
    coc = (yy / 300.0 * 2 - 1) * 14.0
    whole = render_lens_blur(img, coc, tile_pixels=10**9)
    tiled = render_lens_blur(img, coc, tile_pixels=30_000)
    diff = np.abs(whole - tiled)
    assert diff.max() < 2e-2 and diff.mean() < 1e-4


@pytest.mark.slow
def test_big_image_smoke():
    h, w = 1500, 2000
    img = np.full((h, w, 3), 0.4, np.float32)
    img[::50, ::50] = 1.0
    coc = np.linspace(-40, 20, w, dtype=np.float32)[None, :].repeat(h, axis=0)
    out = render_lens_blur(img, coc, tile_pixels=1_000_000)
    assert out.shape == img.shape and np.isfinite(out).all()


def test_rejects_bad_inputs():
    with pytest.raises(ValueError):
        render_lens_blur(np.zeros((8, 8, 3), np.float32), np.zeros((8, 9), np.float32))
    with pytest.raises(ValueError):
        render_lens_blur(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError):
        render_lens_blur(np.zeros((8, 8, 3), np.float32), np.full((8, 8), np.nan, np.float32))


def test_untouched_map_marks_exactly_the_unchanged_pixels():
    rng = np.random.default_rng(5)
    img = rng.random((100, 100, 3)).astype(np.float32)
    coc = np.zeros((100, 100), np.float32)
    coc[:, :30] = -8.0  # blurred background on the left
    coc[40:60, 70:90] = 6.0  # blurred foreground patch on the right
    untouched = np.zeros((100, 100), bool)
    out = render_lens_blur(img, coc, untouched=untouched)
    np.testing.assert_array_equal(out[untouched], img[untouched])
    assert not untouched[:, :30].any()  # blurred
    assert not untouched[50, 66]  # in focus, but the foreground spreads over it
    assert untouched[10, 60] and untouched[90, 50]


def test_threaded_tiles_match_one_thread_exactly(monkeypatch):
    from defocus_cli.ops import render

    rng = np.random.default_rng(4)
    img = rng.random((300, 260, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:300, 0:260]
    coc = ((xx - 130) / 10.0 + np.where((yy - 150) ** 2 + (xx - 130) ** 2 < 60**2, 8.0, 0.0)).astype(np.float32)
    outputs = []
    for threads in (1, 3):
        monkeypatch.setattr(render, "RENDER_THREADS", threads)
        untouched = np.zeros(coc.shape, bool)
        out = render_lens_blur(img, coc, tile_pixels=64 * 64, untouched=untouched)
        outputs.append((out, untouched))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


def test_radii_beyond_the_frame_are_capped_at_its_diagonal():
    # A radius of a million pixels on a 64x96 image would otherwise size the pyramid by the
    # radius (terabytes); past the diagonal every pixel already spreads over the whole frame.
    rng = np.random.default_rng(0)
    img = rng.random((64, 96, 3)).astype(np.float32)
    diagonal = float(np.hypot(64, 96))
    capped = render_lens_blur(img, np.full((64, 96), -diagonal, np.float32), highlights=None)
    huge = render_lens_blur(img, np.full((64, 96), -1e6, np.float32), highlights=None)
    np.testing.assert_array_equal(huge, capped)
    assert float(np.ptp(huge[..., 0])) < 0.1 * float(np.ptp(img[..., 0]))
