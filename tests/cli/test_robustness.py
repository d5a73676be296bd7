"""Every image subcommand over bad and odd inputs: no traceback, right exit code, no partial
outputs, and correct size, orientation, bit depth and metadata for the valid inputs.

Add each image subcommand that works to IMAGE_COMMANDS with the arguments that make it run
without weights (or with stand-in networks, see ``_stand_in_networks``). The checks do not
depend on what the command does to the pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defocus_cli.io.image import load_image
from tests.cli.jobs_testcmd import run_cli
from tests.conftest import write_photo
from tests.models.tiny_refocus import install_refocus

IMAGE_COMMANDS = [
    pytest.param("invert", [], id="invert"),
    pytest.param("magnify", ["-m", "2", "--method", "map"], id="magnify-map"),
    pytest.param("deblur", [], id="deblur"),
    pytest.param("refocus", ["--delta", "5", "--keep-radiance", "radiance/"], id="refocus"),
]

#: name -> (write_photo options, expected output: bit depth, alpha kept, grayscale)
VALID = {
    "plain.jpg": ({"icc": "srgb", "orientation": 1}, 8, False, False),
    "gray.png": ({"mode": "L"}, 8, False, True),
    "palette.png": ({"mode": "P"}, 8, False, False),
    "cmyk.jpg": ({"mode": "CMYK"}, 8, False, False),
    "deep.png": ({"bit_depth": 16}, 16, False, False),
    "deep.tif": ({"bit_depth": 16, "mode": "RGBA"}, 16, True, False),
    "alpha.png": ({"mode": "RGBA"}, 8, True, False),
    "alpha.webp": ({"mode": "RGBA", "quality": 100}, 8, True, False),
    "rotated6.jpg": ({"orientation": 6}, 8, False, False),
    "rotated3.png": ({"orientation": 3}, 8, False, False),
    "rotated8.webp": ({"orientation": 8, "quality": 100}, 8, False, False),
    "rotated5.tif": ({"orientation": 5}, 8, False, False),
}
BAD = ["truncated.jpg", "truncated16.png", "empty.png", "text.jpg"]
WIDTH, HEIGHT = 36, 24


def _make_folder(root: Path, srgb_icc: bytes) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Write the valid and bad inputs; return each valid photo's pixels as displayed and as stored."""
    displayed, stored_pixels = {}, {}
    for name, (options, *_) in VALID.items():
        options = dict(options)
        if options.get("icc") == "srgb":
            options["icc"] = srgb_icc
        stored = write_photo(root / name, size=(WIDTH, HEIGHT), **options)
        with Image.open(root / name) as image:
            from PIL import ImageOps

            shown = ImageOps.exif_transpose(image)
            displayed[name] = np.asarray(shown.convert("RGB"), dtype=np.float32) / 255
        assert stored.shape[:2] == (HEIGHT, WIDTH)
        stored_pixels[name] = stored
    write_photo(root / "truncated.jpg", size=(64, 48))
    (root / "truncated.jpg").write_bytes((root / "truncated.jpg").read_bytes()[:300])
    write_photo(root / "truncated16.png", size=(64, 48), bit_depth=16)
    (root / "truncated16.png").write_bytes((root / "truncated16.png").read_bytes()[:-500])
    (root / "empty.png").write_bytes(b"")
    (root / "text.jpg").write_text("just some text, not a photo\n")
    return displayed, stored_pixels


@pytest.fixture(autouse=True)
def _stand_in_networks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """deblur and refocus run on tiny stand-ins with their networks' I/O (tests/models/tiny_refocus.py)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("command") in ("deblur", "refocus"):
        monkeypatch.setenv("DEFOCUS_WEIGHTS_DIR", str(install_refocus(tmp_path_factory.mktemp("weights"))))


@pytest.fixture
def srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _abs_correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.mean(axis=2).ravel() - a.mean()
    b = b.mean(axis=2).ravel() - b.mean()
    return abs(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)))


@pytest.mark.parametrize(("command", "extra"), IMAGE_COMMANDS)
def test_mixed_folder(tmp_path: Path, srgb_icc: bytes, command: str, extra: list[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    displayed, stored = _make_folder(photos, srgb_icc)
    code, out, err = run_cli([command, "photos", "missing.jpg", "-o", "out", *extra], cwd=tmp_path)

    assert code == 1, err
    assert "Traceback" not in err
    assert f"{len(BAD) + 1} of {len(VALID) + len(BAD) + 1} inputs failed" in err
    for bad in [*BAD, "missing.jpg"]:
        assert sum(bad in line for line in err.splitlines()) == 1, (bad, err)
    # Nothing partial, nothing for the bad inputs, one output per valid input.
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert not [name for name in written if name.startswith(".") or name.endswith(".part")]
    assert written == sorted(VALID)  # format auto keeps each input's format and suffix

    for name, (_, bit_depth, has_alpha, grayscale) in VALID.items():
        output = tmp_path / "out" / name
        result = load_image(output)
        source = load_image(photos / name)
        assert result.format == source.format, name
        assert (result.width, result.height) == (source.width, source.height), name
        assert result.bit_depth == bit_depth, name
        assert (result.alpha is not None) == has_alpha, name
        assert result.grayscale == grayscale, name
        if has_alpha:
            np.testing.assert_allclose(result.alpha, source.alpha, atol=1 / 255)
        # Orientation: the output lines up with the photo as displayed, not as stored.
        shown = displayed[name]
        assert result.rgb.shape[:2] == shown.shape[:2], name
        if name.startswith("rotated") and stored[name].shape == shown.shape:
            # Same shape (180° turns): only the content tells the orientation apart.
            assert _abs_correlation(result.rgb, shown) > _abs_correlation(result.rgb, stored[name]) + 0.1, name
        with Image.open(output) as image:
            exif = image.getexif()
            if name.startswith("rotated"):
                assert exif.get(0x0112) == 1 and exif.get(0x010F) == "TestCam", name
            if name == "plain.jpg":
                assert image.info.get("icc_profile") == srgb_icc


@pytest.mark.parametrize(("command", "extra"), IMAGE_COMMANDS)
@pytest.mark.parametrize("bad", [*BAD, "missing.jpg", "folder_without_recursive"])
def test_each_bad_input_alone(tmp_path: Path, command: str, extra: list[str], bad: str) -> None:
    _make_folder(tmp_path, b"")
    if bad == "folder_without_recursive":
        (tmp_path / "nested" / "deeper").mkdir(parents=True)
        write_photo(tmp_path / "nested" / "deeper" / "x.jpg")
        bad = "nested"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = run_cli([command, bad, *extra], cwd=tmp_path)
    assert code == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and err.startswith("defocus: error:")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize(("command", "extra"), IMAGE_COMMANDS)
def test_usage_errors_do_not_touch_files(tmp_path: Path, command: str, extra: list[str]) -> None:
    write_photo(tmp_path / "a.jpg")
    for args in (["a.jpg", "--shard", "0/2"], ["a.jpg", "-o", "-"], ["a.jpg", "--json", "-o", "-", "--format", "png"],
                 ["a.jpg", "--overwrite", "--skip-existing"], ["a.jpg", "--format", "bmp"]):
        code, out, err = run_cli([command, *args, *extra], cwd=tmp_path)
        assert code == 2, (args, err)
        assert "Traceback" not in err and out == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]
