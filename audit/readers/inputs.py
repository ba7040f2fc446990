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
    """One input file: its address as given (`source`), how to read it, and its id in the output folder."""

    source: str
    kind: str
    shard_id: str


def _kind(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1].lower()
    return next((k for ext, k in KINDS.items() if name.endswith(ext)), None)


def _shard(source: str) -> Shard:
    kind = _kind(source)
    if kind is None:
        raise InputError(f"{source}: unsupported input type (use .parquet, .tar, .txt or .jsonl)")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", source.rstrip("/").rsplit("/", 1)[-1])[:80]
    return Shard(source, kind, f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:10]}")


def _address(path: str, like: str) -> str:
    """Turn a filesystem path back into an address of the same form as the input `like`."""
    if storage.is_uri(like):
        return like.split("://", 1)[0] + "://" + path.lstrip("/")
    return path


def _glob_regex(pattern: str) -> re.Pattern:
    """Shell-style glob: `*` and `?` stay within a folder, `**` spans folders."""
    return re.compile("".join(GLOB_REGEX.get(t, re.escape(t)) for t in GLOB_TOKENS.split(pattern)) + r"\Z")


def _listing(pattern: str) -> list[str]:
    """Supported files in a folder (recursively) or matching a glob, as addresses."""
    fs, path = storage.resolve(pattern)
    glob = WILDCARDS.search(path)
    base = path[: path.rfind("/", 0, glob.start())] if glob else path
    recursive = not glob or "/" in path[glob.start():] or "**" in path
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=recursive, allow_not_found=True))
    match = _glob_regex(path).match if glob else None
    found = sorted(i.path for i in infos if i.type == pafs.FileType.File and _kind(i.path)
                   and (match is None or match(i.path)))
    return [_address(p, pattern) for p in found]


def expand_inputs(inputs: list[str]) -> list[Shard]:
    """Shards in input order, duplicates removed; a named file that is missing stays (its shard will fail)."""
    sources: list[str] = []
    for given in inputs:
        for item in braceexpand(given):
            fs, path = storage.resolve(item)
            if WILDCARDS.search(path) or fs.get_file_info(path).type == pafs.FileType.Directory:
                matched = _listing(item)
                if not matched:
                    raise InputError(f"{item}: no .parquet, .tar, .txt or .jsonl files found")
                sources += matched
            else:
                sources.append(item if storage.is_uri(item) else path)
    return [_shard(s) for s in dict.fromkeys(sources)]
