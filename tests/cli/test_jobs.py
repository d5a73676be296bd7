"""defocus_cli.cli.jobs (+ options, reporting) through test-only commands and the real main().

Every test reads the exit code and stderr, not just the files.
"""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defocus_cli.io.image import load_image
from defocus_cli.io.maps import load_map
from tests.cli.jobs_testcmd import run_cli
from tests.conftest import write_photo


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr


def test_default_name_beside_input_and_pixels_processed(tmp_path: Path) -> None:
    stored = write_photo(tmp_path / "Photo.PNG")
    code, out, err = run_cli(["invert", str(tmp_path / "Photo.PNG")])
    assert code == 0, err
    assert out == b"" and err == ""
    result = load_image(tmp_path / "Photo_invert.PNG")  # the input's suffix spelling is kept
    assert result.format == "png"
    np.testing.assert_allclose(result.rgb, 1 - stored, atol=0.5 / 255)


def test_output_file_suffix_chooses_format(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.png")
    code, _, err = run_cli(["invert", str(tmp_path / "a.png"), "-o", str(tmp_path / "r.webp")])
    assert code == 0, err
    assert load_image(tmp_path / "r.webp").format == "webp"
    code, _, err = run_cli(["invert", str(tmp_path / "a.png"), "-o", str(tmp_path / "x.jpg"), "--format", "tiff"])
    assert code == 0, err
    assert load_image(tmp_path / "x.jpg").format == "tiff"  # an explicit --format wins


@pytest.mark.parametrize(("command", "output"), [
    ("invert", "r.gif"), ("invert", "r.npy"), ("invert", "{stem}_r.bmp"), ("coc", "m.jpg"), ("coc", "m.webp"),
])
def test_output_suffix_naming_no_format_the_job_writes_is_a_usage_error(tmp_path: Path, command: str,
                                                                         output: str) -> None:
    write_photo(tmp_path / "a.png")
    code, out, err = run_cli([command, "a.png", "-o", output], cwd=tmp_path)
    assert code == 2 and out == b"" and "or give --format" in err and len(err.strip().splitlines()) == 1
    assert _files(tmp_path) == ["a.png"]
    # an explicit --format writes under any name, and a name without a suffix keeps the input's
    code, _, err = run_cli([command, "a.png", "-o", output, "--format", "png"], cwd=tmp_path)
    assert code == 0, err
    code, _, err = run_cli([command, "a.png", "-o", "plain"], cwd=tmp_path)
    assert code == 0 and (tmp_path / "plain").exists(), err


def test_output_folder_keeps_sub_paths(tmp_path: Path) -> None:
    for name in ("shoot/a.jpg", "shoot/day2/a.jpg", "shoot/day2/deep/b.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        write_photo(tmp_path / name)
    code, _, err = run_cli(["invert", str(tmp_path / "shoot"), "-r", "-o", str(tmp_path / "out")])
    assert code == 0, err
    assert _files(tmp_path / "out") == ["a.jpg", "day2/a.jpg", "day2/deep/b.png"]
    # Without --recursive only the top level is processed.
    code, _, err = run_cli(["invert", str(tmp_path / "shoot"), "-o", str(tmp_path / "flat")])
    assert code == 0, err
    assert _files(tmp_path / "flat") == ["a.jpg"]


def test_several_folders_never_collide(tmp_path: Path) -> None:
    for name in ("day1/x.jpg", "day2/x.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        write_photo(tmp_path / name)
    code, _, err = run_cli(["invert", str(tmp_path / "day1"), str(tmp_path / "day2"), "-o", str(tmp_path / "out")])
    assert code == 0, err
    assert _files(tmp_path / "out") == ["day1/x.jpg", "day2/x.jpg"]


def test_template(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.jpg")
    write_photo(tmp_path / "b.png")
    code, _, err = run_cli(["invert", "a.jpg", "b.png", "-o", "done/{stem}-{command}.{ext}"], cwd=tmp_path)
    assert code == 0, err
    assert _files(tmp_path / "done") == ["a-invert.jpg", "b-invert.png"]
    code, _, err = run_cli(["invert", "a.jpg", "b.png", "-o", "same.{ext}"], cwd=tmp_path)
    assert code == 2 and "{stem}" in err
    # A bad placeholder is a usage error before setup (which would fail here with exit 3).
    code, _, err = run_cli(["needs-weights", "a.jpg", "-o", "{stem.upper}.jpg"], cwd=tmp_path)
    assert code == 2 and "bad -o template" in err and err.count("\n") == 1


def test_single_file_output_for_a_batch_is_a_usage_error(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.jpg")
    write_photo(tmp_path / "b.jpg")
    code, _, err = run_cli(["invert", "a.jpg", "b.jpg", "-o", "one.jpg"], cwd=tmp_path)
    assert code == 2 and "names one file" in err
    assert _files(tmp_path) == ["a.jpg", "b.jpg"]


def test_json_lines(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"not a photo")
    code, out, err = run_cli(["invert", "a.jpg", "b.jpg", "missing.png", "--json"], cwd=tmp_path)
    assert code == 1
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [line["input"] for line in lines] == ["a.jpg", "b.jpg", "missing.png"]
    assert [line["status"] for line in lines] == ["ok", "failed", "failed"]
    ok = lines[0]
    assert ok["output"] == "a_invert.jpg" and ok["error"] is None
    assert (ok["model"], ok["model_sha256"], ok["provider"]) == ("invert-test", "0" * 64, "CPUExecutionProvider")
    assert ok["seconds"] >= 0 and "mean" in ok
    assert "not an image" in lines[1]["error"] and "no such file" in lines[2]["error"]
    assert lines[1]["model"] == "invert-test"  # per-job fields are on every line
    assert "2 of 3 inputs failed" in err
    _no_traceback(err)


def test_json_cannot_share_stdout(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.jpg")
    code, out, err = run_cli(["invert", "a.jpg", "--json", "-o", "-", "--format", "png"], cwd=tmp_path)
    assert code == 2 and "--json" in err and out == b""
    code, _, err = run_cli(["invert", "--json"], stdin=(tmp_path / "a.jpg").read_bytes(), cwd=tmp_path)
    assert code == 2 and "--json" in err


def test_shards_split_a_folder(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for i in range(5):
        write_photo(tmp_path / "in" / f"{i}.png", size=(8, 6))
    outputs = []
    for k in (1, 2):
        code, out, err = run_cli(["invert", "in", "--shard", f"{k}/2", "-o", f"out{k}", "--json"], cwd=tmp_path)
        assert code == 0, err
        outputs.append(_files(tmp_path / f"out{k}"))
    assert outputs == [["0.png", "2.png", "4.png"], ["1.png", "3.png"]]
    code, _, err = run_cli(["invert", "in", "--shard", "3/2"], cwd=tmp_path)
    assert code == 2 and "shard" in err.lower()
    code, _, err = run_cli(["invert", "in/0.png", "--shard", "2/2"], cwd=tmp_path)
    assert code == 0 and "no inputs" in err


def test_overwrite_rules(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.png")
    (tmp_path / "a_invert.png").write_bytes(b"old")
    code, _, err = run_cli(["invert", "a.png"], cwd=tmp_path)
    assert code == 1 and "exists" in err and "--overwrite" in err
    assert (tmp_path / "a_invert.png").read_bytes() == b"old"

    code, out, err = run_cli(["invert", "a.png", "--skip-existing", "--json"], cwd=tmp_path)
    assert code == 0 and json.loads(out)["status"] == "skipped" and "skipped 1" in err
    assert (tmp_path / "a_invert.png").read_bytes() == b"old"

    code, _, err = run_cli(["invert", "a.png", "--overwrite"], cwd=tmp_path)
    assert code == 0, err
    assert load_image(tmp_path / "a_invert.png").format == "png"

    code, _, err = run_cli(["invert", "a.png", "--overwrite", "--skip-existing"], cwd=tmp_path)
    assert code == 2


def test_output_equal_to_input_is_always_refused(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    for extra in ([], ["--overwrite"]):
        code, _, err = run_cli(["invert", "a.png", "-o", "a.png", *extra], cwd=tmp_path)
        assert code == 1 and "input itself" in err
    code, _, err = run_cli(["invert", ".", "-o", ".", "--overwrite"], cwd=tmp_path)
    assert code == 1 and "input itself" in err
    assert (tmp_path / "a.png").read_bytes() == before


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_output_onto_a_pipe_is_refused_and_the_pipe_kept(tmp_path: Path, extra: list[str]) -> None:
    # as -o /dev/null or /dev/stdout would be: renaming a file over them replaces the node
    write_photo(tmp_path / "a.png")
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "link.png").symlink_to(tmp_path / "pipe.png")
    for target in ("pipe.png", "link.png"):
        code, _, err = run_cli(["invert", "a.png", "-o", target, *extra], cwd=tmp_path)
        assert code == 1 and "is a device or pipe, not a file" in err and len(err.strip().splitlines()) == 1
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe.png").st_mode) and (tmp_path / "link.png").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "link.png", "pipe.png"]


def test_names_colliding_inside_a_batch_fail_the_later_input(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.jpg")
    write_photo(tmp_path / "a.png")
    code, _, err = run_cli(["invert", "a.jpg", "a.png", "--format", "webp"], cwd=tmp_path)
    assert code == 1 and "already written" in err
    assert (tmp_path / "a_invert.webp").exists()


def test_batch_goes_on_past_failures_and_names_them(tmp_path: Path) -> None:
    write_photo(tmp_path / "1.jpg")
    (tmp_path / "2.jpg").write_bytes(b"")
    write_photo(tmp_path / "3.jpg")
    write_photo(tmp_path / "4_refuse.jpg")
    code, _, err = run_cli(["invert", ".", "--fail-on", "refuse"], cwd=tmp_path)
    assert code == 1
    assert "2.jpg: empty file" in err and "refused by --fail-on" in err and "2 of 4 inputs failed" in err
    assert err.strip().splitlines()[-1].startswith("defocus: error:")
    assert {"1_invert.jpg", "3_invert.jpg"} <= set(_files(tmp_path)) and "2_invert.jpg" not in _files(tmp_path)
    _no_traceback(err)


def test_setup_error_exits_with_its_own_code_and_usage_errors_come_first(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.jpg")
    code, _, err = run_cli(["needs-weights", "a.jpg"], cwd=tmp_path)
    assert code == 3 and err.count("\n") == 1 and "defocus models fetch" in err
    code, _, err = run_cli(["needs-weights", "a.jpg", "--overwrite", "--skip-existing"], cwd=tmp_path)
    assert code == 2
    assert _files(tmp_path) == ["a.jpg"]


def test_interrupt_exits_130_and_leaves_no_partial_file(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        write_photo(tmp_path / name)
    code, _, err = run_cli(["interrupt", "."], cwd=tmp_path)
    assert code == 130 and "interrupted" in err
    assert _files(tmp_path) == ["a.png", "a_interrupt.png", "b.png", "c.png"]
    _no_traceback(err)


def test_stdout_needs_a_format_for_file_inputs(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.jpg")
    code, out, err = run_cli(["invert", "a.jpg", "-o", "-"], cwd=tmp_path)
    assert code == 2 and "--format" in err and out == b""
    code, out, err = run_cli(["invert", "a.jpg", "-o", "-", "--format", "png"], cwd=tmp_path)
    assert code == 0, err
    assert Image.open(io.BytesIO(out)).format == "PNG"
    code, out, err = run_cli(["invert", "a.jpg", "a.jpg", "x.jpg", "-o", "-", "--format", "png"], cwd=tmp_path)
    assert code == 2


def test_stdin_defaults_to_stdout_in_the_input_format(tmp_path: Path) -> None:
    stored = write_photo(tmp_path / "a.webp", quality=100)
    code, out, err = run_cli(["invert", "--quality", "100"], stdin=(tmp_path / "a.webp").read_bytes())
    assert code == 0, err
    result = load_image(out)
    assert result.format == "webp"
    np.testing.assert_allclose(result.rgb, 1 - stored, atol=1 / 255)
    code, out, err = run_cli(["invert", "-", "-o", str(tmp_path / "from_stdin.png")], stdin=(tmp_path / "a.webp").read_bytes())
    assert code == 0 and out == b""
    assert load_image(tmp_path / "from_stdin.png").format == "png"
    code, out, err = run_cli(["invert"], stdin=b"")
    assert code == 1 and "-: empty file" in err


def test_formats_auto_keeps_alpha_and_bit_depth(tmp_path: Path) -> None:
    write_photo(tmp_path / "deep.tif", bit_depth=16)
    write_photo(tmp_path / "clear.webp", mode="RGBA", quality=100)
    code, _, err = run_cli(["invert", "deep.tif", "clear.webp"], cwd=tmp_path)
    assert code == 0, err
    deep, clear = load_image(tmp_path / "deep_invert.tif"), load_image(tmp_path / "clear_invert.webp")
    assert deep.bit_depth == 16 and deep.format == "tiff"
    assert clear.alpha is not None and clear.format == "webp"
    np.testing.assert_array_equal(clear.alpha, load_image(tmp_path / "clear.webp").alpha)


def test_notes_and_quiet(tmp_path: Path) -> None:
    write_photo(tmp_path / "pal.png", mode="P")
    write_photo(tmp_path / "alpha.png", mode="RGBA")
    code, _, err = run_cli(["invert", "pal.png", "alpha.png", "--format", "jpg"], cwd=tmp_path)
    assert code == 0
    assert "pal.png: palette image converted to RGB" in err and "alpha.png: alpha channel dropped" in err
    code, _, err = run_cli(["invert", "pal.png", "alpha.png", "--format", "jpg", "--overwrite", "-q"], cwd=tmp_path)
    assert code == 0 and err == ""


def test_max_pixels(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.png", size=(40, 30))
    code, _, err = run_cli(["invert", "a.png", "--max-pixels", "1000"], cwd=tmp_path)
    assert code == 1 and "--max-pixels" in err and err.count("\n") == 1
    code, _, err = run_cli(["invert", "a.png", "--max-pixels", "0"], cwd=tmp_path)
    assert code == 0, err


def test_empty_folder_and_no_photos(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    code, _, err = run_cli(["invert", "empty"], cwd=tmp_path)
    assert code == 1 and "no photos" in err and "--recursive" in err


def test_strip_metadata(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.jpg", orientation=6)
    code, _, err = run_cli(["invert", "a.jpg", "--strip-metadata"], cwd=tmp_path)
    assert code == 0, err
    with Image.open(tmp_path / "a_invert.jpg") as image:
        assert len(image.getexif()) == 0 and image.size == (24, 36)


def test_map_job_formats_and_colorize(tmp_path: Path) -> None:
    stored = write_photo(tmp_path / "p.jpg", quality=100)
    code, _, err = run_cli(["coc", "p.jpg"], cwd=tmp_path)
    assert code == 0, err
    radius = load_map(tmp_path / "p_coc.png")
    assert radius.shape == (24, 36)
    np.testing.assert_allclose(radius, 8 * stored.mean(axis=2), atol=0.1)
    code, _, err = run_cli(["coc", "p.jpg", "--format", "npy"], cwd=tmp_path)
    assert code == 0 and np.load(tmp_path / "p_coc.npy").dtype == np.float32
    code, _, err = run_cli(["coc", "p.jpg", "-o", "m.tif"], cwd=tmp_path)
    assert code == 0 and load_map(tmp_path / "m.tif").dtype == np.float32
    code, _, err = run_cli(["coc", "p.jpg", "--colorize", "-o", "preview.png"], cwd=tmp_path)
    assert code == 0
    with Image.open(tmp_path / "preview.png") as preview:
        assert preview.mode == "RGB" and preview.size[0] == 36 and preview.size[1] > 24
    code, _, err = run_cli(["coc", "p.jpg", "--colorize", "--format", "npy"], cwd=tmp_path)
    assert code == 2


@pytest.mark.parametrize("output", ["m.npy", "{stem}.npy", "out.NPY"])
def test_colorize_into_an_npy_named_by_output_is_a_usage_error(tmp_path: Path, output: str) -> None:
    # a preview is an image: -o's .npy suffix picks the format as --format npy does
    write_photo(tmp_path / "p.jpg")
    code, out, err = run_cli(["coc", "p.jpg", "--colorize", "-o", output], cwd=tmp_path)
    assert code == 2 and out == b"" and "--colorize writes an image" in err
    assert _files(tmp_path) == ["p.jpg"]


@pytest.mark.parametrize("args", [["--format", "gif"], ["--quality", "0"], ["--shard", "x"], ["--bogus"]])
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    write_photo(tmp_path / "a.jpg")
    code, _, err = run_cli(["invert", "a.jpg", *args], cwd=tmp_path)
    assert code == 2
    _no_traceback(err)


def test_a_device_error_stops_the_batch_with_its_code(tmp_path: Path) -> None:
    for name in ("a.png", "b.png", "c.png"):
        write_photo(tmp_path / name)
    code, _, err = run_cli(["lose-device", "."], cwd=tmp_path)
    assert code == 4 and err.strip() == "defocus: error: CUDA device lost"
    assert _files(tmp_path) == ["a.png", "a_lose_device.png", "b.png", "c.png"]


def test_map_job_from_stdin_goes_to_stdout_as_png(tmp_path: Path) -> None:
    stored = write_photo(tmp_path / "p.png")
    code, out, err = run_cli(["coc"], stdin=(tmp_path / "p.png").read_bytes())
    assert code == 0, err
    np.testing.assert_allclose(load_map(out), 8 * stored.mean(axis=2), atol=0.01)


def test_a_folder_named_like_a_file_is_still_a_folder(tmp_path: Path) -> None:
    write_photo(tmp_path / "a.png")
    (tmp_path / "results.jpg").mkdir()
    code, _, err = run_cli(["invert", "a.png", "-o", "results.jpg"], cwd=tmp_path)
    assert code == 0, err
    assert load_image(tmp_path / "results.jpg" / "a.png").format == "png"
