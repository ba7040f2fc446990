"""Count an input file's rows without reading its captions: Parquet from its footer, tars from member headers,
text files by their line breaks (streamed)."""
from __future__ import annotations

import tarfile

import pyarrow.fs as pafs

from audit.readers.inputs import Shard
from audit.runfolder import storage

BLOCK = 1 << 22


def _lines(fs: pafs.FileSystem, path: str) -> int:
    """Lines of a text file, as the .txt / .jsonl readers count them (a last line without a break counts)."""
    count, last = 0, b"\n"
    with fs.open_input_stream(path) as src:
        while block := src.read(BLOCK):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _samples(fs: pafs.FileSystem, path: str) -> int:
    """Samples of a WebDataset tar: distinct keys among its files, from the member headers (data skipped)."""
    keys = set()
    with fs.open_input_file(path) as src, tarfile.open(fileobj=src, mode="r:") as tar:
        for member in tar:
            folder, _, name = member.name.rpartition("/")
            if member.isreg() and "." in name:
                keys.add(f"{folder}/{name.split('.', 1)[0]}")
    return len(keys)


def count_rows(shard: Shard) -> int:
    """Rows of a whole non-Parquet input file (Parquet units know theirs from the footer)."""
    fs, path = storage.resolve(shard.address)
    return _samples(fs, path) if shard.kind == "webdataset" else _lines(fs, path)
