"""defocus_cli.cli.reporting: JSON lines, summaries, and progress only on a terminal."""

from __future__ import annotations

import io
import json

from defocus_cli.cli.reporting import JSON_KEYS, Outcome, Reporter


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_line_has_every_key_and_extra_fields() -> None:
    line = Outcome("a.jpg", "a_x.jpg", "ok", seconds=0.123456, info={"model": "m", "focus": 0.5}).as_json()
    assert list(line)[: len(JSON_KEYS)] == list(JSON_KEYS)
    assert line["model"] == "m" and line["focus"] == 0.5 and line["provider"] is None and line["seconds"] == 0.1235


def test_progress_only_on_a_terminal_and_never_on_stdout() -> None:
    for stderr, expect_progress in ((io.StringIO(), False), (_Terminal(), True)):
        stdout = io.StringIO()
        with Reporter(2, json_lines=True, quiet=False, stdout=stdout, stderr=stderr) as reporter:
            assert (reporter._progress is not None) == expect_progress
            reporter.start("a.jpg")
            reporter.note("a.jpg", "palette image converted to RGB")
            reporter.record(Outcome("a.jpg", "a_x.jpg", "ok"))
            reporter.record(Outcome("b.jpg", None, "failed", error="b.jpg: empty file"))
            failure = reporter.summary()
        assert failure == "1 of 2 inputs failed"
        assert [json.loads(line)["status"] for line in stdout.getvalue().splitlines()] == ["ok", "failed"]
        assert "palette image converted" in stderr.getvalue() and "b.jpg: empty file" in stderr.getvalue()


def test_quiet_keeps_only_errors() -> None:
    stderr = io.StringIO()
    with Reporter(1, json_lines=False, quiet=True, stdout=io.StringIO(), stderr=stderr) as reporter:
        assert reporter._progress is None
        reporter.note("a.jpg", "something")
        reporter.record(Outcome("a.jpg", "a_x.jpg", "skipped"))
        assert reporter.summary() is None
    assert stderr.getvalue() == ""
    single = Reporter(1, json_lines=False, quiet=True, stdout=io.StringIO(), stderr=stderr)
    single.record(Outcome("a.jpg", None, "failed", error="a.jpg: no such file"))
    assert single.summary() == "a.jpg: no such file" and stderr.getvalue() == ""
