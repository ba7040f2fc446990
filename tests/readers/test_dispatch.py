"""Reading one shard: caption detection, per-row read statuses, passthrough columns and their types."""
from __future__ import annotations

import io
import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.readers.dispatch import read_shard
from audit.readers.errors import InputError
from audit.readers.inputs import Shard


def shard(path, kind):
    return Shard(str(path), kind, "id", str(path))


def test_laion_parquet_keeps_passthrough_types_and_marks_bad_captions(tmp_path):
    path = tmp_path / "laion.parquet"
    pq.write_table(pa.table({"SAMPLE_ID": pa.array([7, 8, 9], pa.int64()), "TEXT": ["a cat", None, ""],
                             "caption": ["x", "y", "z"], "WIDTH": pa.array([1, None, 3], pa.int32())}), path)
    rows = read_shard(shard(path, "parquet"))
    assert rows.captions == ["a cat", None, ""] and rows.statuses == [None, "null", None]
    assert rows.extra.column_names == ["SAMPLE_ID", "input_caption", "WIDTH"]
    assert rows.extra.schema.field("WIDTH").type == pa.int32() and rows.extra["WIDTH"].to_pylist() == [1, None, 3]


def test_img2dataset_parquet_and_non_string_captions(tmp_path):
    path = tmp_path / "i2d.parquet"
    pq.write_table(pa.table({"key": ["000", "001"], "url": ["u0", "u1"], "caption": ["a dog", "b"],
                             "status": ["success", "failed"]}), path)
    rows = read_shard(shard(path, "parquet"))
    assert rows.captions == ["a dog", "b"] and rows.extra.column_names == ["key", "url", "input_status"]
    numbers = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"text": [1, None]}), numbers)
    assert read_shard(shard(numbers, "parquet")).statuses == ["not_string", "null"]
    with pytest.raises(InputError, match="no column 'prompt'"):
        read_shard(shard(path, "parquet"), caption_column="prompt")


def tar_of(samples: dict[str, dict[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for key, members in samples.items():
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_webdataset_tar_caption_from_txt_or_json_field(tmp_path):
    path = tmp_path / "s.tar"
    path.write_bytes(tar_of({
        "dir/000": {"jpg": b"x", "txt": b"a red boat", "json": json.dumps({"url": "u0", "key": "000",
                                                                             "prompt": "p0"}).encode()},
        "dir/001": {"jpg": b"x", "txt": b"\xff\xfe", "json": b"{broken"},
        "dir/002": {"jpg": b"x", "json": json.dumps({"url": "u2", "prompt": 5}).encode()},
    }))
    rows = read_shard(shard(path, "webdataset"))
    assert rows.captions == ["a red boat", "\ufffd\ufffd", None]
    assert rows.statuses == [None, "invalid_utf8", "missing_caption"]
    assert rows.extra["key"].to_pylist() == ["dir/000", "dir/001", "dir/002"]
    assert rows.extra["url"].to_pylist() == ["u0", None, "u2"] and rows.extra["input_key"].to_pylist()[0] == "000"
    by_field = read_shard(shard(path, "webdataset"), caption_field="prompt")
    assert by_field.captions == ["p0", None, None]
    assert by_field.statuses == [None, "invalid_json", "not_string"]


def test_text_and_jsonl_rows(tmp_path):
    txt, jsonl = tmp_path / "c.txt", tmp_path / "c.jsonl"
    txt.write_bytes(b"one\n\n\xff\n")
    jsonl.write_text('{"caption": "a", "url": "q", "meta": {"k": 1}}\n{"caption": 5, "url": 7}\nnot json\n')
    assert read_shard(shard(txt, "txt")).statuses == [None, None, "invalid_utf8"]
    rows = read_shard(shard(jsonl, "jsonl"))
    assert rows.captions == ["a", None, None] and rows.statuses == [None, "not_string", "invalid_json"]
    assert rows.extra["url"].to_pylist() == ["q", "7", None]


def write_samples(path, n: int, end: bool) -> bytes:
    """A tar of `n` txt samples; without `end`, cut right after the last member (no end-of-archive blocks)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for i in range(n):
            data = f"caption {i}".encode()
            info = tarfile.TarInfo(f"{i:04d}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        cut = tar.offset
    data = buffer.getvalue() if end else buffer.getvalue()[:cut]
    path.write_bytes(data)
    return data


def test_a_tar_cut_at_a_member_boundary_fails_instead_of_reading_short(tmp_path):
    write_samples(tmp_path / "whole.tar", 5, end=True)
    assert len(read_shard(shard(tmp_path / "whole.tar", "webdataset")).captions) == 5
    write_samples(tmp_path / "cut.tar", 5, end=False)
    with tarfile.open(tmp_path / "cut.tar") as tar:  # the standard library reads it as a complete, shorter archive
        assert len(tar.getmembers()) == 5
    with pytest.raises(tarfile.ReadError, match="archive cut short"):
        read_shard(shard(tmp_path / "cut.tar", "webdataset"))


def test_reserved_input_columns_are_renamed_without_clashes(tmp_path):
    path = tmp_path / "clash.parquet"
    pq.write_table(pa.table({"TEXT": ["a cat"], "row_id": [7], "input_row_id": [8], "score": [0.5]}), path)
    rows = read_shard(shard(path, "parquet"))
    assert rows.extra.column_names == ["input_input_row_id", "input_row_id", "input_score"]
    assert rows.extra.to_pylist() == [{"input_input_row_id": 7, "input_row_id": 8, "input_score": 0.5}]


def test_a_byte_order_mark_is_not_part_of_the_first_caption(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfa cat\na dog\n")
    (tmp_path / "bom.jsonl").write_bytes(b'\xef\xbb\xbf{"caption": "a cat"}\n')
    assert read_shard(shard(tmp_path / "bom.txt", "txt")).captions == ["a cat", "a dog"]
    rows = read_shard(shard(tmp_path / "bom.jsonl", "jsonl"))
    assert rows.captions == ["a cat"] and rows.statuses == [None]
