"""Expand the scan's inputs (files, folders, globs, brace patterns; local or s3:// / gs://) into shards.

Every input file is one shard, identified by a stable id derived from its address (credentials removed).
Folder and glob listings skip hidden files and folders and img2dataset's `*_stats.json`; they take `.json`
files only when the glob itself ends in `.json`. One file given twice (a symlink, a `file://` form, other
credentials) is one shard.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pyarrow.fs as pafs
from braceexpand import braceexpand

from audit.readers.errors import InputError
from audit.runfolder import storage

KINDS = {".parquet": "parquet", ".pq": "parquet", ".tar": "webdataset", ".txt": "txt", ".jsonl": "jsonl",
         ".json": "jsonl"}
LISTED_JSON = ".json"  # taken by a listing only when its pattern ends in it: JSON beside shards is metadata
SKIPPED_SUFFIX = "_stats.json"  # img2dataset's per-shard statistics
WILDCARDS = re.compile(r"[*?]")
GLOB_TOKENS = re.compile(r"(\*\*/|\*\*|\*|\?)")
GLOB_REGEX = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


@dataclass(frozen=True)
class Shard:
    """One input file: its address without credentials (`source`, stored and shown), how to read it, its id
    in the output folder, and the address as given (`address`, with any credentials: only for opening it)."""

    source: str
    kind: str
    shard_id: str
    address: str


def _kind(address: str) -> str | None:
    name = storage.file_name(address).lower()
    return next((k for ext, k in KINDS.items() if name.endswith(ext)), None)


def _shard(address: str) -> Shard:
    source = storage.redact(address)
    kind = _kind(address)
    if kind is None:
        raise InputError(f"{source}: unsupported input type (use .parquet, .tar, .txt or .jsonl)")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", storage.file_name(address))[:80]
    return Shard(source, kind, f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:10]}", address)


def _address(path: str, like: str, fs: pafs.FileSystem) -> str:
    """A listed filesystem path as an address of the same form as the input `like` (user info and query kept)."""
    if isinstance(fs, pafs.LocalFileSystem):
        return path
    parts = urlsplit(like)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    bucket, _, rest = path.lstrip("/").partition("/")
    return urlunsplit(parts._replace(netloc=user + bucket, path="/" + rest))


def _identity(fs: pafs.FileSystem, path: str, address: str) -> str:
    """What names one file however it is written: the real path of a local file, else the address less secrets."""
    if isinstance(fs, pafs.LocalFileSystem):
        return "file://" + os.path.realpath(path)
    return storage.redact(address)


def _glob_regex(pattern: str) -> re.Pattern:
    """Shell-style glob: `*` and `?` stay within a folder, `**` spans folders."""
    return re.compile("".join(GLOB_REGEX.get(t, re.escape(t)) for t in GLOB_TOKENS.split(pattern)) + r"\Z")


def _listed(path: str, base: str, json_too: bool) -> bool:
    """Whether a listing takes the file at `path` found under `base`: a supported, visible caption file."""
    relative = path[len(base):].lstrip("/")
    if any(part.startswith(".") for part in relative.split("/")) or path.endswith(SKIPPED_SUFFIX):
        return False
    return _kind(path) is not None and (json_too or not path.lower().endswith(LISTED_JSON))


def _listing(pattern: str) -> list[tuple[str, str]]:
    """(address, identity) of the caption files in a folder (recursively) or matching a glob."""
    fs, path = storage.resolve(pattern)
    glob = WILDCARDS.search(path)
    base = path[: path.rfind("/", 0, glob.start())] if glob else path
    recursive = not glob or "/" in path[glob.start():] or "**" in path
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=recursive, allow_not_found=True))
    match = _glob_regex(path).match if glob else None
    json_too = bool(glob) and path.lower().endswith(LISTED_JSON)
    found = sorted(i.path for i in infos if i.type == pafs.FileType.File and _listed(i.path, base, json_too)
                   and (match is None or match(i.path)))
    return [(address, _identity(fs, p, address)) for p in found for address in [_address(p, pattern, fs)]]


def expand_inputs(inputs: list[str]) -> list[Shard]:
    """Shards in input order, each file once; a named file that is missing stays (its shard will fail)."""
    sources: dict[str, str] = {}  # identity -> address, first form given wins
    for given in inputs:
        for item in braceexpand(given):
            fs, path = storage.resolve(item)
            if WILDCARDS.search(path) or fs.get_file_info(path).type == pafs.FileType.Directory:
                matched = _listing(item)
                if not matched:
                    raise InputError(f"{storage.redact(item)}: no .parquet, .tar, .txt or .jsonl files found")
            else:
                address = item if storage.is_uri(item) else path
                matched = [(address, _identity(fs, path, address))]
            for address, identity in matched:
                sources.setdefault(identity, address)
    return [_shard(a) for a in sources.values()]
