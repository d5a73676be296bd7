"""defocus_cli.io.paths: discovery, shards and output names."""

from __future__ import annotations

from pathlib import Path

import pytest

from defocus_cli.errors import UsageError
from defocus_cli.io.paths import (
    InputItem,
    discover_inputs,
    output_is_folder,
    output_path,
    parse_shard,
)


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")


def test_parse_shard() -> None:
    assert parse_shard("2/8") == (2, 8)
    assert parse_shard(None) is None
    for bad in ("0/3", "4/3", "1/0", "a/b", "3"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_discovery_sorts_filters_and_recurses(tmp_path: Path) -> None:
    _touch(tmp_path, "b.jpg", "a.PNG", "notes.txt", ".hidden.jpg", "a_magnify.png", "sub/c.tif", ".git/d.jpg")
    flat = discover_inputs([str(tmp_path)], recursive=False, command="magnify")
    assert [item.relative.as_posix() for item in flat] == ["a.PNG", "b.jpg"]
    deep = discover_inputs([str(tmp_path)], recursive=True, command="magnify")
    assert [item.relative.as_posix() for item in deep] == ["a.PNG", "b.jpg", "sub/c.tif"]


def test_shards_partition_the_sorted_inputs(tmp_path: Path) -> None:
    names = [f"{i:02d}.jpg" for i in range(7)]
    _touch(tmp_path, *names)
    shards = [discover_inputs([str(tmp_path)], False, "x", (k, 3)) for k in (1, 2, 3)]
    assert [item.path.name for item in shards[0]] == ["00.jpg", "03.jpg", "06.jpg"]
    covered = sorted(item.path.name for shard in shards for item in shard)
    assert covered == names


def test_several_folders_are_prefixed_by_their_names(tmp_path: Path) -> None:
    _touch(tmp_path, "day1/x.jpg", "day2/x.jpg")
    items = discover_inputs([str(tmp_path / "day1"), str(tmp_path / "day2")], False, "m")
    assert sorted(item.relative.as_posix() for item in items) == ["day1/x.jpg", "day2/x.jpg"]


def test_files_dedupe_missing_kept_and_one_stdin(tmp_path: Path) -> None:
    _touch(tmp_path, "a.jpg")
    a = str(tmp_path / "a.jpg")
    items = discover_inputs([a, a, str(tmp_path / "missing.jpg"), "-"], False, "m")
    assert [item.display for item in items] == ["-", a, str(tmp_path / "missing.jpg")]
    with pytest.raises(UsageError):
        discover_inputs(["-", "-"], False, "m")


def test_output_names(tmp_path: Path) -> None:
    item = InputItem(tmp_path / "in" / "sub" / "p.jpg", Path("sub/p.jpg"), "p.jpg")
    assert output_path(item, None, "magnify", "jpg", False) == str(tmp_path / "in" / "sub" / "p_magnify.jpg")
    assert output_path(item, "out", "magnify", "png", True) == str(Path("out/sub/p.png"))
    assert output_path(item, "r.webp", "magnify", "webp", False) == "r.webp"
    assert output_path(item, "-", "magnify", "png", False) == "-"
    assert output_path(item, "o/{subdir}/{stem}-{command}.{ext}", "magnify", "tif", False) == "o/sub/p-magnify.tif"
    stdin = InputItem(None, Path("stdin"), "-")
    assert output_path(stdin, None, "magnify", "jpg", False) == "-"
    with pytest.raises(UsageError, match="template"):
        output_path(item, "{nope}.jpg", "magnify", "jpg", False)


@pytest.mark.parametrize("template", ["{stem.upper}.jpg", "{stem[0]}.jpg", "{stem!r}.jpg", "{stem:>99999999999}.jpg",
                                      "{0}.jpg", "{}.jpg", "{stem}}.jpg"])
def test_output_templates_take_plain_placeholders_only(tmp_path: Path, template: str) -> None:
    # no attribute or index lookups, conversions or format specs (a huge width would exhaust memory)
    item = InputItem(tmp_path / "p.jpg", Path("p.jpg"), "p.jpg")
    with pytest.raises(UsageError, match="bad -o template"):
        output_path(item, template, "magnify", "jpg", False)


def test_output_folder_detection(tmp_path: Path) -> None:
    one = [InputItem(tmp_path / "a.jpg", Path("a.jpg"), "a.jpg")]
    two = one + [InputItem(tmp_path / "b.jpg", Path("b.jpg"), "b.jpg")]
    assert not output_is_folder("x.jpg", one, ["a.jpg"])
    assert output_is_folder("x/", one, ["a.jpg"])
    assert output_is_folder(str(tmp_path), one, ["a.jpg"])
    assert output_is_folder("results", two, ["a.jpg", "b.jpg"])
    with pytest.raises(UsageError, match="names one file"):
        output_is_folder("x.jpg", two, ["a.jpg", "b.jpg"])
