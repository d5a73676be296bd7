"""``defocus shallow-dof`` end to end: exit codes, stderr, outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from defocus_cli.io.image import load_image
from tests.cli.jobs_testcmd import run_cli
from tests.conftest import write_photo


def _setup(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    photo = tmp_path / "p.png"
    pixels = write_photo(photo, size=(48, 32))
    depth = np.full((32, 48), 0.1, np.float32)
    depth[8:24, 12:36] = 0.9
    np.save(tmp_path / "d.npy", depth)
    return photo, tmp_path / "d.npy", pixels


def test_renders_with_focus_point_and_keeps_subject(tmp_path: Path) -> None:
    photo, depth, pixels = _setup(tmp_path)
    code, out, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--focus-point", "50%,50%",
                              "--blur-radius", "6", "--no-grain", "--json"])
    assert code == 0, err
    assert b'"focus_depth": 0.9' in out
    result = load_image(tmp_path / "p_shallow-dof.png").rgb
    np.testing.assert_allclose(result[10:22, 14:34], pixels[10:22, 14:34, :3], atol=1 / 255)
    assert not np.allclose(result[:4], pixels[:4, :, :3], atol=2 / 255)


def test_png_depth_resized_and_polygon_bokeh(tmp_path: Path) -> None:
    photo, _, _ = _setup(tmp_path)
    depth = np.zeros((16, 24), np.uint16)
    depth[4:12, 6:18] = 60000
    Image.fromarray(depth).save(tmp_path / "d16.png")
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(tmp_path / "d16.png"), "--focus-depth", "0",
                            "--bokeh", "poly:6,15", "--highlights", "off", "-o", str(tmp_path / "o.png")])
    assert code == 0, err
    assert Image.open(tmp_path / "o.png").size == (48, 32)


def test_depth_folder_per_input(tmp_path: Path) -> None:
    photo, depth, _ = _setup(tmp_path)
    (tmp_path / "depths").mkdir()
    np.save(tmp_path / "depths" / "p.npy", np.load(depth))
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(tmp_path / "depths"), "--focus-depth", "0.5"])
    assert code == 0, err


def test_errors(tmp_path: Path) -> None:
    photo, depth, _ = _setup(tmp_path)
    # Neither or both focus options: usage.
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth)])
    assert code == 2 and "exactly one of --focus-depth" in err
    # Depth is required until a depth model ships.
    code, _, err = run_cli(["shallow-dof", str(photo), "--focus-depth", "0.5"])
    assert code == 2 and "--depth" in err
    # Aspect ratio mismatch: that input fails, one line, exit 1.
    np.save(tmp_path / "tall.npy", np.zeros((48, 32), np.float32))
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(tmp_path / "tall.npy"), "--focus-depth", "0.5"])
    assert code == 1 and "aspect ratios differ" in err and "Traceback" not in err
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(tmp_path / "nope.npy"), "--focus-depth", "0.5"])
    assert code == 1 and "no such file" in err
    for bad in (["--bokeh", "star"], ["--highlights", "2,3"], ["--blur-radius", "big"], ["--focus-point", "1,2%"]):
        args = ["shallow-dof", str(photo), "--depth", str(depth), "--focus-depth", "0.5", *bad]
        if bad[0] == "--focus-point":
            args = ["shallow-dof", str(photo), "--depth", str(depth), *bad]
        code, _, err = run_cli(args)
        assert code == 2, (bad, err)
    code, _, err = run_cli(["shallow-dof", str(photo), "--depth", str(depth), "--focus-point", "500,5"])
    assert code == 1 and "outside" in err
