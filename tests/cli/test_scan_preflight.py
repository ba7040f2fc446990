"""Mistakes in a scan's inputs are caught before Ray starts or anything is written: exit 2, one line."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from audit.cli.main import main


def _refused(capsys, argv: list[str], message: str) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and message in captured.err and captured.err.count("\n") == 1
    assert captured.out == "" and not ray.is_initialized()


@pytest.mark.parametrize("given, message", [
    ("sample_captons.txt", "sample_captons.txt: no such file or folder"),
    ("*.parquet", "*.parquet: no .parquet, .tar, .txt or .jsonl files found"),
    ("s-{00000..00001}.tar", "s-00001.tar: no such file or folder"),
])
def test_a_typo_in_an_input_is_refused_before_anything_starts(tmp_path, capsys, given, message):
    (tmp_path / "s-00000.tar").write_bytes(b"")
    out = tmp_path / "runs" / "typo"
    _refused(capsys, ["scan", str(tmp_path / given), "--output", str(out)], message)
    assert not out.exists() and not (tmp_path / "runs").exists()
    _refused(capsys, ["scan", "--plan", str(tmp_path / given)], message)


def test_a_missing_caption_column_is_refused_before_anything_starts(tmp_path, capsys):
    given = tmp_path / "x.parquet"
    pq.write_table(pa.table({"TEXT": ["a red cat"], "URL": ["u"]}), given)
    out = tmp_path / "cc"
    message = f"{given}: no column 'TXT' (columns: TEXT, URL)"
    _refused(capsys, ["scan", str(given), "--caption-column", "TXT", "--output", str(out)], message)
    assert not out.exists()
    _refused(capsys, ["scan", "--plan", str(given), "--caption-column", "TXT"], message)
