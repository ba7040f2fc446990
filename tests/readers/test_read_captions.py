"""Reading caption files: every row kept, a reason for every unreadable one, clear errors for bad files."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.readers.dispatch import read_captions
from audit.readers.errors import InputError
from audit.readers.status import caption_status, combine_status


def test_txt_keeps_every_line_and_marks_invalid_utf8(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"a cat\r\n\n   \nbad \xff\xfe bytes\nemoji \xf0\x9f\x98\x80 \x07 bell\n")
    frame = read_captions(path)
    assert frame["row_id"].tolist() == [0, 1, 2, 3, 4]
    assert frame["caption"].iloc[0] == "a cat"
    assert frame["read_status"].iloc[3] == "invalid_utf8"
    assert "\ufffd" in frame["caption"].iloc[3]
    assert frame["caption"].iloc[4] == "emoji \U0001F600 \x07 bell"


def test_jsonl_field_and_bad_lines(tmp_path):
    path = tmp_path / "c.jsonl"
    lines = [json.dumps({"caption": "x", "url": "u1"}), "{not json", json.dumps({"text": "y"}),
             json.dumps({"caption": None, "score": 3})]
    path.write_text("\n".join(lines) + "\n")
    frame = read_captions(path)
    assert frame["read_status"].isna().iloc[0]
    assert frame["read_status"].tolist()[1:3] == ["invalid_json", "missing_field"]
    assert frame["url"].iloc[0] == "u1"
    assert "input_score" in frame and "score" not in frame  # clashing passthrough column renamed
    with pytest.raises(InputError, match="no record has the field 'nothing'"):
        read_captions(path, caption_column="nothing")


def test_parquet_caption_column_detection_and_passthrough(tmp_path):
    path = tmp_path / "laion.parquet"
    pq.write_table(pa.table({"SAMPLE_ID": [1, 2], "URL": ["a", "b"], "TEXT": ["one", None]}), path)
    frame = read_captions(path)
    assert frame["caption"].tolist()[0] == "one" and frame["URL"].tolist() == ["a", "b"]
    with pytest.raises(InputError, match="no column 'nope'"):
        read_captions(path, caption_column="nope")
    pq.write_table(pa.table({"other": [1]}), tmp_path / "none.parquet")
    with pytest.raises(InputError, match="no caption column found"):
        read_captions(tmp_path / "none.parquet")


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="unreadable Parquet"):
        read_captions(tmp_path / "broken.parquet")
    with pytest.raises(InputError, match="no such file"):
        read_captions(tmp_path / "missing.txt")
    (tmp_path / "x.csv").write_text("a\n")
    with pytest.raises(InputError, match="unsupported input type"):
        read_captions(tmp_path / "x.csv")


@pytest.mark.parametrize("value,status", [(None, "null"), (float("nan"), "null"), (3, "not_string"),
                                          (["a"], "not_string"), ("", "empty"), (" \t\n", "empty"), ("ok", "ok")])
def test_caption_status(value, status):
    assert caption_status(value) == status


def test_reader_status_wins_and_nan_means_none():
    assert combine_status("invalid_utf8", "text") == "invalid_utf8"
    assert combine_status(float("nan"), "text") == "ok"
    assert combine_status(None, "") == "empty"
