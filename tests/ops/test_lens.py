import numpy as np
import pytest

from defocus_cli.ops.lens import in_focus_mask, parse_blur_radius, signed_coc_radius


def test_coc_is_k_times_signed_inverse_depth_offset():
    depth = np.array([[0.0, 0.5, 1.0]], np.float32)
    coc = signed_coc_radius(depth, focus_depth=0.5, blur_radius_px=10)
    np.testing.assert_allclose(coc, [[-5.0, 0.0, 5.0]])
    assert coc.dtype == np.float32


def test_in_front_is_positive_and_in_focus_is_below_half_a_pixel():
    coc = np.array([0.49, -0.49, 0.5, -2.0])
    assert in_focus_mask(coc).tolist() == [True, True, False, False]


def test_negative_blur_radius_is_refused():
    with pytest.raises(ValueError):
        signed_coc_radius(np.zeros((1, 1)), 0.0, -1)


@pytest.mark.parametrize(
    ("text", "expected"), [("12", 12.0), ("7.5", 7.5), ("2%", 60.0), (" 1.5 % ", 45.0), (".5", 0.5)]
)
def test_blur_radius_in_pixels_or_percent_of_long_side(text, expected):
    assert parse_blur_radius(text, (3000, 2000)) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "abc", "-3", "2%%", "5px"])
def test_bad_blur_radius_is_refused(text):
    with pytest.raises(ValueError, match="blur radius"):
        parse_blur_radius(text, (100, 100))
