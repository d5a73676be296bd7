"""defocus_cli.cli.main: the one place user errors become one line and an exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.jobs_testcmd import run_cli
from tests.conftest import write_photo


@pytest.mark.parametrize(("args", "message"), [
    (["invert", "a.png", "--quality", "0"], "Invalid value for '--quality'"),
    (["invert", "a.png", "--bogus"], "No such option '--bogus'"),
    (["invert", "a.png", "--format", "gif"], "Invalid value for '--format'"),
    (["no-such-command"], "No such command 'no-such-command'"),
    (["magnify", "a.png", "-m", "9"], "Invalid value for '-m' / '--magnification'"),
    (["refocus", "a.png"], "Missing option '-d' / '--delta'"),
])
def test_click_usage_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    write_photo(tmp_path / "a.png")
    code, out, err = run_cli(args, cwd=tmp_path)
    assert code == 2 and out == b""
    assert err.strip().splitlines() == [err.strip()] and err.startswith(f"defocus: error: {message}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_a_group_without_arguments_shows_its_help() -> None:
    code, out, err = run_cli(["models"])
    assert code in (0, 2)  # click >= 8.2 exits 2, older versions 0
    assert "Usage: defocus models" in out.decode() + err and "list" in out.decode() + err
