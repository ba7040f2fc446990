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
    shards = expand_inputs([str(folder / "*.parquet"), str(folder / "s-{00000..00002}.tar"), str(folder / "a.parquet")])
    assert [s.source for s in shards] == [str(folder / n) for n in
                                          ("a.parquet", "b.parquet", "s-00000.tar", "s-00001.tar", "s-00002.tar")]


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
