"""The natural photos the synthetic engine may crop textures from, and the ones it must not.

scikit-image ships a few photographs with clear licences. Textures come only from
:data:`TEXTURE_PHOTOS`; :data:`RESERVED_PHOTOS` are kept for the README, galleries and tests,
so that what the project shows is never what its models were trained on. scikit-image is
imported lazily, the first time a photo is loaded.
"""

from __future__ import annotations

from functools import cache

import numpy as np

# name -> licence as stated in the scikit-image docstring of ``skimage.data.<name>``.
TEXTURE_PHOTOS: dict[str, str] = {
    "astronaut": "public domain (NASA; 'no known copyright restrictions, released into the public domain')",
    "camera": "CC0 (photographer Lav Varshney)",
    "horse": "CC0 (openclipart, Andreas Preuss); a binary silhouette, used as an alpha shape",
    "hubble_deep_field": "public domain (NASA)",
    "retina": "CC0 1.0 (Wikimedia Commons, Fundus photograph of normal left eye)",
    "brick": "CC0 (CC0Textures, Bricks25)",
    "grass": "CC0 (DeviantArt, linolafett, Grass-01)",
    "gravel": "CC0 (CC0Textures, Gravel04)",
    "text": "public domain (Wikimedia Commons, Corner.png)",
    "cell": "CC0 (dedicated to the public domain)",
}

# Reserved for README, galleries and tests: never a training texture.
RESERVED_PHOTOS: dict[str, str] = {
    "chelsea": "CC0 (photographer Stefan van der Walt)",
    "coffee": "CC0 (photographer Rachel Michetti)",
    "rocket": "public domain (SpaceX)",
    "stereo_motorcycle": "Middlebury Stereo 2014 (research use)",
}

# Offline photos left out, and why.
EXCLUDED_PHOTOS: dict[str, str] = {
    "moon": "no licence statement",
    "page": "no licence statement",
    "colorwheel": "no licence statement",
    "coins": "'no known copyright restrictions' only, not a CC0/public-domain dedication",
    "immunohistochemistry": "'no known copyright restrictions' only, not a CC0/public-domain dedication",
    "clock": "motion-blurred, so it would corrupt 'sharp' ground truth",
}

# Photos that make good opaque backgrounds or ground planes (surface-like, fill the frame).
SURFACE_PHOTOS: tuple[str, ...] = ("brick", "grass", "gravel", "hubble_deep_field", "retina", "astronaut")
# Photos that make good object textures (cropped by an alpha shape).
OBJECT_PHOTOS: tuple[str, ...] = ("astronaut", "camera", "retina", "cell", "text", "brick", "grass", "gravel")


@cache
def load_photo(name: str) -> np.ndarray:
    """Load an allowed texture photo as float32 sRGB in [0, 1], HxWx3 (HxW for the horse mask).

    Raises ``ValueError`` for reserved or unknown names, so a reserved photo cannot leak in.
    """
    if name not in TEXTURE_PHOTOS:
        why = "reserved for README/tests" if name in RESERVED_PHOTOS else "not an allowed texture photo"
        raise ValueError(f"photo {name!r} is {why}")
    import skimage.data  # lazy: only texture loading needs scikit-image

    array = np.asarray(getattr(skimage.data, name)())
    if array.dtype == bool:
        return array.astype(np.float32)
    out = array.astype(np.float32) / 255.0
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    out = np.ascontiguousarray(out[..., :3])
    out.setflags(write=False)
    return out
