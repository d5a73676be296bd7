"""``defocus magnify --method map`` end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from defocus_cli.io.image import load_image
from defocus_cli.io.maps import save_map
from tests.cli.jobs_testcmd import run_cli
from tests.conftest import write_photo

REPO = Path(__file__).resolve().parents[2]


def test_m1_keeps_pixels(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    pixels = write_photo(photo, size=(40, 30))
    code, _, err = run_cli(["magnify", str(photo), "-m", "1"])
    assert code == 0, err
    np.testing.assert_array_equal(load_image(tmp_path / "p_magnify.png").rgb, pixels[..., :3])


def test_given_defocus_map(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    pixels = write_photo(photo, size=(40, 30))
    coc = np.zeros((30, 40), np.float32)
    coc[:, 20:] = 3.0
    save_map(coc, tmp_path / "map.png", "defocus", "png")
    code, out, err = run_cli(["magnify", str(photo), "-m", "3", "--defocus-map", str(tmp_path / "map.png"),
                              "--no-grain", "--json"])
    assert code == 0, err
    assert b'"defocus_map": "given"' in out
    result = load_image(tmp_path / "p_magnify.png").rgb
    np.testing.assert_array_equal(result[:, :12], pixels[:, :12, :3])
    assert not np.allclose(result[:, 28:], pixels[:, 28:, :3], atol=2 / 255)


def test_usage_errors(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    write_photo(photo, size=(40, 30))
    for m in ("0.5", "4.5", "two"):
        code, _, err = run_cli(["magnify", str(photo), "-m", m])
        assert code == 2 and "magnification" in err
    code, _, err = run_cli(["magnify", str(photo), "--method", "gan"])
    assert code == 2
    np.save(tmp_path / "small.npy", np.zeros((10, 10), np.float32))
    code, _, err = run_cli(["magnify", str(photo), "--defocus-map", str(tmp_path / "small.npy")])
    assert code == 1 and "maps are in pixels of their image" in err


def test_main_job_line_on_the_example_photo(tmp_path: Path) -> None:
    # The README's first command, with no weights, in a fresh interpreter; torch stays out.
    example = REPO / "examples" / "chelsea.jpg"
    out = tmp_path / "chelsea_m2.jpg"
    code = (
        "import sys\n"
        "from defocus_cli.cli.main import main\n"
        "try:\n"
        f"    main(['magnify', {str(example)!r}, '-m', '2', '-o', {str(out)!r}])\n"
        "except SystemExit as done:\n"
        "    assert 'torch' not in sys.modules\n"
        "    raise\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=REPO)
    assert done.returncode == 0, done.stderr.decode()
    assert load_image(out).rgb.shape == load_image(example).rgb.shape
