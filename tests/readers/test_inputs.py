"""Expanding files, folders, globs and brace patterns into shards."""
from __future__ import annotations

import pytest

from audit.readers.errors import InputError
from audit.readers.inputs import expand_inputs


@pytest.fixture
def folder(tmp_path):
    for name in ("b.parquet", "a.parquet", "s-00000.tar", "s-00001.tar", "c.txt", "d.jsonl", "notes.md"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.parquet").write_bytes(b"")
    return tmp_path


def test_folder_lists_supported_files_recursively_in_order(folder):
    shards = expand_inputs([str(folder)])
    assert [s.source for s in shards] == [str(folder / n) for n in
                                          ("a.parquet", "b.parquet", "c.txt", "d.jsonl", "s-00000.tar", "s-00001.tar",
                                           "sub/e.parquet")]
    assert [s.kind for s in shards][:5] == ["parquet", "parquet", "txt", "jsonl", "webdataset"]


def test_glob_brace_pattern_and_duplicates(folder):
    shards = expand_inputs([str(folder / "*.parquet"), str(folder / "s-{00000..00001}.tar"), str(folder / "a.parquet")])
    assert [s.source for s in shards] == [str(folder / n) for n in
                                          ("a.parquet", "b.parquet", "s-00000.tar", "s-00001.tar")]
    with pytest.raises(InputError, match="s-00002.tar: no such file or folder"):
        expand_inputs([str(folder / "s-{00000..00002}.tar")])


def test_shard_ids_are_stable_unique_and_name_the_file(folder):
    first = expand_inputs([str(folder)])
    again = expand_inputs([str(folder / "*"), str(folder / "sub" / "*.parquet")])
    assert [s.shard_id for s in first] == [s.shard_id for s in again]
    assert len({s.shard_id for s in first}) == len(first)
    assert first[0].shard_id.startswith("a.parquet-")


def test_unusable_inputs_are_refused(folder):
    with pytest.raises(InputError, match="no .parquet, .tar, .txt or .jsonl files found"):
        expand_inputs([str(folder / "*.csv")])
    with pytest.raises(InputError, match="unsupported input type"):
        expand_inputs([str(folder / "notes.md")])


def test_listing_skips_hidden_files_and_stats_json_and_takes_json_only_by_glob(tmp_path):
    """img2dataset writes `*_stats.json` beside its shards; editors and sync tools leave hidden files."""
    for name in ("a.parquet", "00000_stats.json", "meta.json", ".b.parquet", ".cache/c.parquet", "sub/.d.txt",
                 "sub/e.txt", "x.json", "y_stats.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [s.source for s in expand_inputs([str(tmp_path)])] == [str(tmp_path / "a.parquet"), str(tmp_path / "sub/e.txt")]
    assert [s.source for s in expand_inputs([str(tmp_path / "*.json")])] == [str(tmp_path / n) for n in ("meta.json", "x.json")]
    assert [s.kind for s in expand_inputs([str(tmp_path / "meta.json")])] == ["jsonl"]  # named: read as JSON Lines


def test_one_file_named_several_ways_is_one_shard(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a cat\n")
    (tmp_path / "data" / "link.txt").symlink_to(tmp_path / "data" / "a.txt")
    shards = expand_inputs([str(tmp_path / "data"), f"file://{tmp_path}/data/a.txt", str(tmp_path / "data" / "link.txt")])
    assert [s.source for s in shards] == [str(tmp_path / "data" / "a.txt")]

