"""``defocus defocus-map --method classical`` end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from defocus_cli.io.maps import load_map
from tests.cli.jobs_testcmd import run_cli
from tests.conftest import write_photo


def test_formats_and_units(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(48, 32))
    code, out, err = run_cli(["defocus-map", str(photo), "--format", "npy", "--json"])
    assert code == 0, err
    assert b'"method": "classical"' in out
    values = np.load(tmp_path / "p_defocus-map.npy")
    assert values.shape == (32, 48) and values.dtype == np.float32 and values.min() >= 0
    code, _, err = run_cli(["defocus-map", str(photo), "--format", "png", "-o", str(tmp_path / "m.png")])
    assert code == 0, err
    np.testing.assert_allclose(load_map(tmp_path / "m.png"), values, atol=1 / 256)
    code, _, err = run_cli(["defocus-map", str(photo), "--colorize", "-o", str(tmp_path / "c.png")])
    assert code == 0, err
    assert Image.open(tmp_path / "c.png").mode == "RGB"


def test_binary_mask(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(48, 32))
    code, _, err = run_cli(["defocus-map", str(photo), "--binary", "0.5", "--format", "npy"])
    assert code == 0, err
    mask = np.load(tmp_path / "p_defocus-map.npy")
    assert set(np.unique(mask)) <= {0.0, 1.0}


def test_usage_errors(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(48, 32))
    code, _, err = run_cli(["defocus-map", str(photo), "--method", "dmenet-nope"])
    assert code == 2
    code, _, err = run_cli(["defocus-map", str(photo), "--binary", "-1"])
    assert code == 2
    code, _, err = run_cli(["defocus-map", str(tmp_path / "missing.jpg")])
    assert code != 0 and "Traceback" not in err
