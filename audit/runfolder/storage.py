"""Paths on local disk or object stores (s3://, gs://) through pyarrow filesystems, with atomic writes;
addresses stripped of credentials wherever they are stored or shown."""
from __future__ import annotations

import io
import json
import re
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

# Query parameters that carry secrets: dropped from every address the tool stores or prints.
SECRET_PARAM = re.compile(r"(access_key|secret|session_token|token|password|passwd|credential|signature|sig"
                          r"|x-amz-[a-z-]*|key)$", re.IGNORECASE)
# A URI inside any text, up to whitespace or a quote.
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
# Credentials pyarrow does not read from a URI query: passed to it as the URI's user info instead.
QUERY_CREDENTIALS = ("access_key", "secret_key")


def is_uri(path: str) -> bool:
    """True for 'scheme://...' addresses; plain paths are local."""
    return "://" in path


def _redact_uri(uri: str) -> str:
    """`uri` without user info (`KEY:SECRET@`) and without query parameters that look like secrets."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not SECRET_PARAM.search(k)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe=":/")))


def redact(text: str) -> str:
    """`text` (an address, or a message naming addresses) with the credentials of every URI in it removed."""
    return URI.sub(lambda m: _redact_uri(m.group(0)), text)


def _pyarrow_uri(uri: str) -> str:
    """`uri` with `access_key` / `secret_key` query parameters moved into its user info, where pyarrow reads them."""
    parts = urlsplit(uri)
    params = parse_qsl(parts.query, keep_blank_values=True)
    given = dict(params)
    if not any(k in given for k in QUERY_CREDENTIALS):
        return uri
    user = ":".join(quote(given.get(k, ""), safe="") for k in QUERY_CREDENTIALS)
    query = urlencode([(k, v) for k, v in params if k not in QUERY_CREDENTIALS], safe=":/")
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rsplit('@', 1)[-1]}", query=query))


def resolve(path: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and in-filesystem path of a local path or URI (local paths made absolute).

    URIs take pyarrow's query options (`endpoint_override`, `region`, ...) and credentials as user info
    or as `access_key` / `secret_key` parameters.
    """
    if is_uri(path):
        return pafs.FileSystem.from_uri(_pyarrow_uri(path))
    return pafs.LocalFileSystem(), str(Path(path).expanduser().resolve())


def child(address: str, *parts: str) -> str:
    """The address of `parts` under the folder `address` (a local path or a URI, whose query is kept)."""
    if not is_uri(address):
        return join(address, *parts)
    split = urlsplit(address)
    return urlunsplit(split._replace(path=join(split.path, *parts)))


def file_name(address: str) -> str:
    """The last component of an address's path (a URI's query and user info are not part of it)."""
    path = urlsplit(address).path if is_uri(address) else address
    return path.rstrip("/").rsplit("/", 1)[-1]


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
