"""Test-time views: the mean of a network's output over mirrored (and shifted) copies of a
photo, each brought back into place first.

A convolutional network is neither mirror- nor shift-equivariant (its poolings see a photo
differently when it moves by less than their stride), so its errors differ between views and
their mean cancels part of them, at one network run per view. Two uses:

- :func:`averaged_over_views`, for per-pixel estimators (DMENet's blur, DeepLens's depth):
  the left-right mirror, a view every photo allows, and shifts. An upside-down view is not
  one of them: scenes are not symmetric that way, and it made DMENet's map worse.
- :func:`flip_averaged` / :func:`flip_averaged_feed`, for the image-to-image generators of
  ``deblur`` and ``refocus`` (``--passes``): 1, 2 or 4 mirror images, upside-down ones
  included, since a generator trained with a content loss treats them alike and its errors
  (a GAN-trained G2's texture noise most of all) do not mirror. Measured on held-out focal
  stacks (docs/MODELS.md): deblur +0.10 / +0.13 dB with 2 / 4 passes, refocus +0.41 dB with
  4. 90-degree rotations, the other half of the usual eight-fold ensemble, scored below the
  four flips alone (28.52 vs 28.57 dB deblur).

>>> double = lambda im: im[..., 0] * 2
>>> image = np.random.default_rng(0).random((6, 9, 3)).astype(np.float32)
>>> bool(np.allclose(averaged_over_views(double, image, shifts_px=(0, 2)), image[..., 0] * 2))
True
>>> bool(np.allclose(flip_averaged(lambda x: x * 2.0, image, passes=4), image * 2.0))
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

#: The pass counts offered: 1 (the network once), 2 (+ left-right mirror), 4 (+ upside
#: down and both).
PASSES = (1, 2, 4)
#: (flip rows, flip columns) of each pass, in the order passes are added.
_FLIPS = ((False, False), (False, True), (True, False), (True, True))


def averaged_over_views(estimate: Callable[[np.ndarray], np.ndarray], image_srgb: np.ndarray,
                        shifts_px: tuple[int, ...] = (0,)) -> np.ndarray:
    """The mean of ``estimate``'s HxW maps of ``image_srgb`` and of its left-right mirror, each
    also shifted down and right by every offset in ``shifts_px`` (symmetric padding; 0 = no
    shift). The result is exactly mirror-equivariant: ``2 * len(shifts_px)`` passes."""
    maps = []
    for mirrored in (False, True):
        view = image_srgb[:, ::-1] if mirrored else image_srgb
        for shift in shifts_px:
            shifted = np.pad(view, ((shift, 0), (shift, 0), (0, 0)), mode="symmetric") if shift else view
            value = estimate(np.ascontiguousarray(shifted))[shift:, shift:]
            maps.append(value[:, ::-1] if mirrored else value)
    return np.mean(maps, axis=0, dtype=np.float32)


#: Key of a model's spec ``extra`` (and export metadata) listing the offsets (px of the image
#: the network sees) by which :func:`averaged_over_views` also shifts each view; written by
#: ``defocus export --view-shift``.
VIEW_SHIFTS_KEY = "view_shifts_px"


def listed_view_shifts(extra: Mapping[str, Any], default: tuple[int, ...] = ()) -> tuple[int, ...]:
    """The ``shifts_px`` for :func:`averaged_over_views` that a model's ``extra`` lists under
    :data:`VIEW_SHIFTS_KEY`, or ``default`` when it lists none; 0 (no shift) is always one.
    Listing only 0 therefore means the photo and its mirror alone.

    >>> listed_view_shifts({}, (8,)), listed_view_shifts({"view_shifts_px": [0]}, (8,))
    ((0, 8), (0,))
    """
    listed = extra.get(VIEW_SHIFTS_KEY)
    if listed is None:
        listed = default
    if not isinstance(listed, list | tuple) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in listed):
        raise ValueError(f"{VIEW_SHIFTS_KEY!r} must be a list of non-negative integers, got {listed!r}")
    return tuple(sorted({0, *listed}))


def check_passes(passes: object) -> int:
    """``passes`` as one of :data:`PASSES`; anything else raises ValueError."""
    if isinstance(passes, bool) or not isinstance(passes, int | np.integer) or int(passes) not in PASSES:
        raise ValueError(f"passes must be one of {', '.join(map(str, PASSES))}, got {passes!r}")
    return int(passes)


def mirror(array: np.ndarray, rows: bool, columns: bool) -> np.ndarray:
    """``array`` (HxW or HxWxC) flipped top-bottom if ``rows`` and left-right if ``columns``;
    its own inverse."""
    if rows:
        array = array[::-1]
    if columns:
        array = array[:, ::-1]
    return np.ascontiguousarray(array)


def flip_averaged(network: Callable[[np.ndarray], np.ndarray], array: np.ndarray, passes: int) -> np.ndarray:
    """Mean of ``network`` over ``passes`` mirrored copies of ``array`` (HxW or HxWxC), each
    output mirrored back. ``network`` maps an HxW(xC) array to an output of the same HxW."""
    return flip_averaged_feed(lambda feed: network(feed["array"]), {"array": array}, passes)


def flip_averaged_feed(network: Callable[[dict[str, np.ndarray]], np.ndarray], feed: dict[str, np.ndarray],
                       passes: int) -> np.ndarray:
    """:func:`flip_averaged` for a network of several inputs: every entry of ``feed`` that is
    an image (two or more dimensions, HxW first) is mirrored together; scalars and vectors
    (e.g. refocus's ``delta``) go to each pass unchanged."""
    passes = check_passes(passes)
    total: np.ndarray | None = None
    for rows, columns in _FLIPS[:passes]:
        mirrored = {name: mirror(value, rows, columns) if np.ndim(value) >= 2 else value
                    for name, value in feed.items()}
        out = mirror(np.asarray(network(mirrored), np.float32), rows, columns)
        # The first output is copied before sums go into it: the network may keep it.
        total = (out if passes == 1 else out.copy()) if total is None else np.add(total, out, out=total)
    assert total is not None
    if passes > 1:
        total /= passes
    return total
