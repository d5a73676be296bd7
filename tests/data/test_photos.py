from __future__ import annotations

import numpy as np
import pytest

from defocus_cli.data import photos


def test_texture_and_reserved_photos_are_disjoint() -> None:
    assert not set(photos.TEXTURE_PHOTOS) & set(photos.RESERVED_PHOTOS)
    assert not set(photos.TEXTURE_PHOTOS) & set(photos.EXCLUDED_PHOTOS)
    for name in ("chelsea", "coffee", "rocket", "stereo_motorcycle"):
        assert name in photos.RESERVED_PHOTOS
    assert set(photos.SURFACE_PHOTOS) <= set(photos.TEXTURE_PHOTOS)
    assert set(photos.OBJECT_PHOTOS) <= set(photos.TEXTURE_PHOTOS)


def test_every_texture_photo_has_a_cc0_or_public_domain_licence() -> None:
    for name, licence in photos.TEXTURE_PHOTOS.items():
        assert "CC0" in licence or "public domain" in licence, name


def test_reserved_photos_cannot_be_loaded_as_textures() -> None:
    with pytest.raises(ValueError, match="reserved"):
        photos.load_photo("chelsea")
    with pytest.raises(ValueError, match="not an allowed"):
        photos.load_photo("moon")


def test_load_photo_is_float_srgb() -> None:
    grass = photos.load_photo("grass")
    assert grass.dtype == np.float32 and grass.ndim == 3 and grass.shape[2] == 3
    assert grass.min() >= 0.0 and grass.max() <= 1.0
    assert photos.load_photo("horse").ndim == 2
