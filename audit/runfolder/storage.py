"""Paths on local disk or object stores (s3://, gs://) through pyarrow filesystems, with atomic writes."""
from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def is_uri(path: str) -> bool:
    """True for 'scheme://...' addresses; plain paths are local."""
    return "://" in path


def resolve(path: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and in-filesystem path of a local path or URI (local paths made absolute)."""
    if is_uri(path):
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), str(Path(path).expanduser().resolve())


def join(root: str, *parts: str) -> str:
    """`root/part/...` with forward slashes, for every filesystem."""
    return "/".join([root.rstrip("/"), *parts])


def exists(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def write_bytes(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write `data` to `path` atomically (temporary name, then move)."""
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open_output_stream(tmp) as out:
        out.write(data)
    fs.move(tmp, path)  # a rename on local disk; on object stores a single-object copy, also all-or-nothing


def write_json(fs: pafs.FileSystem, path: str, value: dict) -> None:
    write_bytes(fs, path, json.dumps(value, indent=2, default=str).encode())


def read_json(fs: pafs.FileSystem, path: str) -> dict:
    with fs.open_input_stream(path) as src:
        return json.loads(src.read())


def write_table(fs: pafs.FileSystem, path: str, table: pa.Table) -> None:
    """Write a Parquet file atomically."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    write_bytes(fs, path, buffer.getvalue())


def read_table(fs: pafs.FileSystem, path: str, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(path, filesystem=fs, columns=columns)


def list_files(fs: pafs.FileSystem, folder: str, suffix: str = "") -> list[str]:
    """Sorted paths of the files directly in `folder` ending in `suffix` (none if it does not exist)."""
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    return sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(suffix))


def remove_file(fs: pafs.FileSystem, path: str) -> None:
    """Delete the file at `path`, if present."""
    if exists(fs, path):
        fs.delete_file(path)


def remove_tree(fs: pafs.FileSystem, folder: str) -> None:
    """Delete `folder` and everything under it, if present."""
    if exists(fs, folder):
        fs.delete_dir(folder)
