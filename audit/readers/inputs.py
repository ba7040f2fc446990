"""Expand the scan's inputs (files, folders, globs, brace patterns; local or s3:// / gs://) into shards.

Every input file is one shard, identified by a stable id derived from its address.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import pyarrow.fs as pafs
from braceexpand import braceexpand

from audit.readers.errors import InputError
from audit.runfolder import storage

KINDS = {".parquet": "parquet", ".pq": "parquet", ".tar": "webdataset", ".txt": "txt", ".jsonl": "jsonl",
         ".json": "jsonl"}
WILDCARDS = re.compile(r"[*?]")
GLOB_TOKENS = re.compile(r"(\*\*/|\*\*|\*|\?)")
GLOB_REGEX = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


@dataclass(frozen=True)
class Shard:
    """A unit of work: one input file, or some consecutive row groups of a Parquet file, or some consecutive
    lines of a text file. Its address as given
    (`source`), how to read it, its id in the output folder, and `identity`, what says the file changed (size
    and modification time; None when it is missing)."""

    source: str
    kind: str
    shard_id: str
    identity: str | None = None
    first_row: int = 0  # a unit of a Parquet file: its rows first_row.. in row groups `row_groups`
    rows: int | None = None
    row_groups: tuple[int, ...] | None = None
    byte_range: tuple[int, int] | None = None  # a unit of a text file: the bytes of its lines

    @classmethod
    def from_record(cls, record: dict) -> "Shard":
        """A shard from a row of the pipeline's input dataset (where Arrow and pandas changed the types)."""
        rows, groups, span = record.get("rows"), record.get("row_groups"), record.get("byte_range")
        known = rows is not None and rows == rows  # NaN for a file whose row count is not known
        return cls(record["source"], record["kind"], record["shard_id"], record.get("identity"),
                   int(record.get("first_row", 0)), int(rows) if known else None,
                   tuple(int(g) for g in groups) if groups is not None else None,
                   (int(span[0]), int(span[1])) if span is not None else None)


def _kind(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1].lower()
    return next((k for ext, k in KINDS.items() if name.endswith(ext)), None)


def identity(info: pafs.FileInfo) -> str | None:
    """Size and modification time of a file as its filesystem reports them; None if it is not a file."""
    if info.type != pafs.FileType.File:
        return None
    return f"size={info.size};mtime_ns={info.mtime_ns}"


def _shard(source: str, info: pafs.FileInfo) -> Shard:
    kind = _kind(source)
    if kind is None:
        raise InputError(f"{source}: unsupported input type (use .parquet, .tar, .txt or .jsonl)")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", source.rstrip("/").rsplit("/", 1)[-1])[:80]
    return Shard(source, kind, f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:10]}", identity(info))


def _address(path: str, like: str) -> str:
    """Turn a filesystem path back into an address of the same form as the input `like`."""
    if storage.is_uri(like):
        return like.split("://", 1)[0] + "://" + path.lstrip("/")
    return path


def _glob_regex(pattern: str) -> re.Pattern:
    """Shell-style glob: `*` and `?` stay within a folder, `**` spans folders."""
    return re.compile("".join(GLOB_REGEX.get(t, re.escape(t)) for t in GLOB_TOKENS.split(pattern)) + r"\Z")


def _inside(path: str, folder: str | None) -> bool:
    return folder is not None and (path == folder or path.startswith(folder.rstrip("/") + "/"))


def _listing(pattern: str, exclude: str | None) -> list[tuple[str, pafs.FileInfo]]:
    """Supported files in a folder (recursively) or matching a glob, as (address, info), none under `exclude`."""
    fs, path = storage.resolve(pattern)
    glob = WILDCARDS.search(path)
    base = path[: path.rfind("/", 0, glob.start())] if glob else path
    recursive = not glob or "/" in path[glob.start():] or "**" in path
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=recursive, allow_not_found=True))
    match = _glob_regex(path).match if glob else None
    found = sorted((i for i in infos if i.type == pafs.FileType.File and _kind(i.path) and not _inside(i.path, exclude)
                    and (match is None or match(i.path))), key=lambda i: i.path)
    return [(_address(i.path, pattern), i) for i in found]


def expand_inputs(inputs: list[str], exclude: str | None = None) -> list[Shard]:
    """Shards in input order, duplicates removed; a named file that is missing stays (its shard will fail).

    Folder listings and globs skip files under `exclude` (the scan's own output folder, in filesystem form).
    """
    sources: dict[str, pafs.FileInfo] = {}
    for given in inputs:
        for item in braceexpand(given):
            fs, path = storage.resolve(item)
            info = None if WILDCARDS.search(path) else fs.get_file_info(path)
            if info is None or info.type == pafs.FileType.Directory:
                matched = _listing(item, exclude)
                if not matched:
                    raise InputError(f"{item}: no .parquet, .tar, .txt or .jsonl files found")
                sources |= {address: found for address, found in matched if address not in sources}
            else:
                sources.setdefault(item if storage.is_uri(item) else path, info)
    return [_shard(source, info) for source, info in sources.items()]
