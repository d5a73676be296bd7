"""``benchmarks/commands.py``: the table it prints, what it skips, and the docs section it writes.

The benchmark lives outside the package, so it is loaded from its file; one end-to-end run
at a tiny size keeps this to a few seconds.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "commands.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_commands", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file loads
    spec.loader.exec_module(module)
    return module


def test_tiny_run_prints_the_table_and_fills_the_docs_section(tmp_path: Path) -> None:
    docs = tmp_path / "BENCHMARKS.md"
    docs.write_text("# Benchmarks\n\nintro\n<!-- commands:begin -->\nold table\n<!-- commands:end -->\noutro\n")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--size", "96x64", "--only", "defocus-map-classical",
         "--keep", str(tmp_path / "work"), "--write-docs", "--docs", str(docs)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| command | seconds | x floor | peak RSS (GB) | meets target |" in lines
    rows = {cells[0]: cells[1:] for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in lines if line.startswith("| "))}
    seconds, ratio, rss, verdict = rows["defocus-map --method classical"]
    assert float(seconds) > 0 and float(ratio) > 0 and float(rss) > 0
    assert verdict == "n/a (not 12 MP)"  # the targets are for 12 MP photos
    assert float(rows["floor: Pillow JPEG decode + encode (q95)"][1]) == pytest.approx(1.0)
    assert re.search(r"96x64 .*provider", result.stdout)

    written = docs.read_text()
    assert "old table" not in written
    assert written.startswith("# Benchmarks\n\nintro\n<!-- commands:begin -->\n96x64")
    assert written.endswith("|\n<!-- commands:end -->\noutro\n")
    assert "defocus-map --method classical" in written


def test_replace_section_needs_both_markers(bench: ModuleType) -> None:
    text = "a\n<!-- commands:begin -->\nx\n<!-- commands:end -->\nb\n"
    assert bench.replace_section(text, "new\n") == "a\n<!-- commands:begin -->\nnew\n<!-- commands:end -->\nb\n"
    with pytest.raises(ValueError, match="commands:begin"):
        bench.replace_section("no markers here", "new")
    with pytest.raises(ValueError):
        bench.replace_section("<!-- commands:end --> <!-- commands:begin -->", "new")
    real = (ROOT / "docs" / "BENCHMARKS.md").read_text()
    assert real.count(bench.BEGIN_MARKER) == 1 and real.count(bench.END_MARKER) == 1


def test_configurations_that_cannot_run_say_why(bench: ModuleType) -> None:
    config = bench.Config
    assert "no `no-such-job` subcommand" in bench.skip_reason(config("x", "no-such-job"))
    assert "no choice 'no-such-method'" in bench.skip_reason(
        config("x", "defocus-map", choices=(("--method", "no-such-method"),)))
    assert "has no --no-such-option" in bench.skip_reason(config("x", "magnify", options=("--no-such-option",)))
    assert bench.skip_reason(config("x", "defocus-map", choices=(("--method", "classical"),))) is None


def test_every_configuration_names_a_known_task(bench: ModuleType) -> None:
    from defocus_cli.models.registry import TASKS

    names = [c.name for c in bench.CONFIGS]
    assert len(names) == len(set(names))
    assert {task for c in bench.CONFIGS for task in c.tasks} <= set(TASKS)
    assert all(c.network for c in bench.CONFIGS if c.tasks)
