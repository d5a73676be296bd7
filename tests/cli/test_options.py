"""defocus_cli.cli.options: the shared option types, and the commands that use them."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from defocus_cli.cli.options import FiniteFloatRange
from tests.cli.jobs_testcmd import run_cli
from tests.conftest import write_photo


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf"])
def test_finite_float_range_refuses_nan_and_infinities(text: str) -> None:
    # NaN passes click.FloatRange's comparisons; an infinity passes a half-open range
    for bounds in (FiniteFloatRange(1.0, 4.0), FiniteFloatRange(min=0.0, min_open=True),
                   FiniteFloatRange(max=1.0)):
        with pytest.raises(click.BadParameter):
            bounds.convert(text, None, None)
    with pytest.raises(click.BadParameter, match="not a finite number"):
        FiniteFloatRange(min=-1.0).convert(text.lstrip("-"), None, None)


def test_finite_float_range_keeps_the_range_check() -> None:
    assert FiniteFloatRange(1.0, 4.0).convert("4", None, None) == 4.0
    with pytest.raises(click.BadParameter, match="range"):
        FiniteFloatRange(1.0, 4.0).convert("5", None, None)


@pytest.mark.parametrize("args", [
    ["magnify", "-m", "nan"],
    ["shallow-dof", "--depth", "d.npy", "--focus-depth", "nan"],
    ["shallow-dof", "--depth", "d.npy", "--focus-range", "nan"],
    ["defocus-map", "--binary", "nan"],
    ["defocus-map", "--binary", "inf"],
    ["deblur", "--scale", "nan"],
    ["refocus", "-d", "5", "--scale", "nan"],
])
def test_non_finite_option_values_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    # the option is checked before any photo is read or any model loaded
    write_photo(tmp_path / "a.png")
    code, out, err = run_cli([args[0], "a.png", *args[1:]], cwd=tmp_path)
    assert code == 2 and out == b"" and "finite" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
