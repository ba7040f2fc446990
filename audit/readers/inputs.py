"""Expand the scan's inputs (files, folders, globs, brace patterns; local or s3:// / gs://) into shards.

Every input file is a shard (split into units of work by `readers.units`), identified by a stable id derived
from its address (credentials removed), with an identity that says when the file changed.
Folder and glob listings skip hidden files and folders and img2dataset's `*_stats.json`; they take `.json`
files only when the glob itself ends in `.json`. One file given twice (a symlink, a `file://` form, other
credentials) is one shard. A named file that does not exist is an error here, before any work starts. Local
listings are walked here, in Python (interruptible): each real folder is entered once, however many links lead
to it, hidden folders never; a folder that cannot be listed becomes a shard that fails with the reason, so the
rest is scanned.
"""
from __future__ import annotations

import hashlib
import logging
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
UNLISTED = "folder"  # the kind of a shard for a folder that could not be listed: reading it fails with `error`

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shard:
    """A unit of work: one input file, or some consecutive row groups of a Parquet file, or some consecutive
    lines of a text file. Its address without credentials (`source`, stored and shown), how to read it, its id
    in the output folder, the address as given (`address`, with any credentials: only for opening it), and
    `identity`, what says the file changed (size and modification time; None when it is missing), and its `size`
    in bytes when it was listed."""

    source: str
    kind: str
    shard_id: str
    address: str
    identity: str | None = None
    first_row: int = 0  # a unit of a Parquet file: its rows first_row.. in row groups `row_groups`
    rows: int | None = None
    row_groups: tuple[int, ...] | None = None
    byte_range: tuple[int, int] | None = None  # a unit of a text file: the bytes of its lines
    error: str | None = None  # why this input cannot be read, known when it was listed (a folder not listable)
    size: int | None = None

    @classmethod
    def from_record(cls, record: dict) -> "Shard":
        """A shard from a row of the pipeline's input dataset (where Arrow and pandas changed the types)."""
        rows, groups, span, error = record.get("rows"), record.get("row_groups"), record.get("byte_range"), \
            record.get("error")
        number = lambda value: int(value) if value is not None and value == value else None  # NaN: not known
        return cls(source=record["source"], kind=record["kind"], shard_id=record["shard_id"],
                   address=record["address"], identity=record.get("identity"),
                   first_row=int(record.get("first_row", 0)), rows=number(rows), size=number(record.get("size")),
                   row_groups=tuple(int(g) for g in groups) if groups is not None else None,
                   byte_range=(int(span[0]), int(span[1])) if span is not None else None,
                   error=error if isinstance(error, str) else None)


def _kind(address: str) -> str | None:
    name = storage.file_name(address).lower()
    return next((k for ext, k in KINDS.items() if name.endswith(ext)), None)


def identity(info: pafs.FileInfo) -> str | None:
    """Size and modification time of a file as its filesystem reports them; None if it is not a file."""
    if info.type != pafs.FileType.File:
        return None
    return f"size={info.size};mtime_ns={info.mtime_ns}"


def _shard(address: str, info: pafs.FileInfo) -> Shard:
    source = storage.redact(address)
    kind = _kind(address)
    if kind is None:
        raise InputError(f"{source}: unsupported input type (use .parquet, .tar, .txt or .jsonl)")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", storage.file_name(address))[:80]
    return Shard(source, kind, f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:10]}", address, identity(info),
                 size=info.size if info.type == pafs.FileType.File else None)


def _unlisted(path: str, reason: str) -> Shard:
    """The shard of a folder that could not be listed: it fails with `reason` when it is read."""
    source = storage.redact(path)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", storage.file_name(path))[:80]
    return Shard(source, UNLISTED, f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:10]}", path,
                 error=f"cannot list this folder ({reason})")


def walk(base: str, recursive: bool, exclude: str | None) -> tuple[list[str], list[tuple[str, str]]]:
    """Paths of the visible files under the local folder `base` (in it alone unless `recursive`), and (folder,
    reason) of the visible folders that could not be listed. Links are followed, each real folder entered once;
    hidden folders and `exclude` are never entered; a folder that vanishes meanwhile is skipped."""
    files, unlisted, seen, todo = [], [], set(), [base]
    while todo:
        folder = todo.pop()
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as listing:
                entries = list(listing)
        except FileNotFoundError:
            continue
        except OSError as err:
            unlisted.append((folder, err.strerror or type(err).__name__))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    if recursive and not _inside(entry.path, exclude):
                        todo.append(entry.path)
                elif entry.is_file():
                    files.append(entry.path)
            except OSError:
                continue  # a link to nothing: neither a file nor a folder
    return files, unlisted


def _address(path: str, like: str, fs: pafs.FileSystem) -> str:
    """A listed filesystem path as an address of the same form as the input `like` (user info and query kept)."""
    if isinstance(fs, pafs.LocalFileSystem):
        return path
    parts = urlsplit(like)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    bucket, _, rest = path.lstrip("/").partition("/")
    return urlunsplit(parts._replace(netloc=user + bucket, path="/" + rest))


def _file_key(fs: pafs.FileSystem, path: str, address: str) -> str:
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


def _inside(path: str, folder: str | None) -> bool:
    return folder is not None and (path == folder or path.startswith(folder.rstrip("/") + "/"))


def _listing(pattern: str, exclude: str | None) -> tuple[list[tuple[str, str, pafs.FileInfo]], list[Shard]]:
    """(address, file key, info) of the caption files in a folder (recursively) or matching a glob, none
    under `exclude`; and the shards of the folders that could not be listed."""
    fs, path = storage.resolve(pattern)
    glob = WILDCARDS.search(path)
    base = path[: path.rfind("/", 0, glob.start())] if glob else path
    recursive = not glob or "/" in path[glob.start():] or "**" in path
    log.debug("listing %s%s", storage.redact(pattern), " (recursive)" if recursive else "")
    unlisted: list[Shard] = []
    if isinstance(fs, pafs.LocalFileSystem):
        paths, failed = walk(base, recursive, exclude)
        infos = fs.get_file_info(paths)
        unlisted = [_unlisted(folder, reason) for folder, reason in sorted(failed)]
    else:  # an object store: no links, no loops
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=recursive, allow_not_found=True))
    match = _glob_regex(path).match if glob else None
    json_too = bool(glob) and path.lower().endswith(LISTED_JSON)
    found = sorted((i for i in infos if i.type == pafs.FileType.File and _listed(i.path, base, json_too)
                    and not _inside(i.path, exclude) and (match is None or match(i.path))), key=lambda i: i.path)
    return ([(address, _file_key(fs, i.path, address), i) for i in found
             for address in [_address(i.path, pattern, fs)]], unlisted)


def expand_inputs(inputs: list[str], exclude: str | None = None) -> list[Shard]:
    """Shards in input order, each file once; InputError for a named file that is missing or a pattern that
    matches no file (a file that vanishes later fails its shard when it is read); a folder that could not be
    listed stays as a shard that fails.

    Folder listings and globs skip files under `exclude` (the scan's own output folder, in filesystem form).
    """
    sources: dict[str, tuple[str, pafs.FileInfo]] = {}  # file key -> (address, info), first form given wins
    unlisted: dict[str, Shard] = {}
    for given in inputs:
        for item in braceexpand(given):
            fs, path = storage.resolve(item)
            info = None if WILDCARDS.search(path) else fs.get_file_info(path)
            if info is None or info.type == pafs.FileType.Directory:
                matched, failed = _listing(item, exclude)
                unlisted |= {s.source: s for s in failed}
                if not matched and not failed:
                    raise InputError(f"{storage.redact(item)}: no .parquet, .tar, .txt or .jsonl files found")
            elif info.type == pafs.FileType.NotFound:
                raise InputError(f"{storage.redact(item)}: no such file or folder")
            else:
                address = item if storage.is_uri(item) else path
                matched = [(address, _file_key(fs, path, address), info)]
            for address, key, found in matched:
                sources.setdefault(key, (address, found))
    return [_shard(address, info) for address, info in sources.values()] + list(unlisted.values())
