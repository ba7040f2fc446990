"""Guarding a run folder: refuse a folder this tool did not create, and one scan or mitigation at a time.

A folder is ours when it is missing, empty, or holds run.json. The lock, run.lock, names its owner
(host, process, the process's start time, when the lock was taken); it is stale when its owner's process is
gone on this host, or when that process id now belongs to a process started at another time (a reused id).
On another host the owner cannot be checked: the message says which file to remove once no run uses the
folder. A process that holds the lock may take it again (a scan's mitigation): the outer hold releases it.
"""
from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from typing import Iterator

import pyarrow.fs as pafs

from audit.runfolder import storage
from audit.runfolder.folder import RunFolder

LOCK = "run.lock"
LOG = "scan.log"  # in logs/: the console writes it before run.json exists


def _ours(entry: pafs.FileInfo, folder: RunFolder) -> bool:
    """Written by a scan before its run.json: the lock, or logs/ holding the console's scan.log alone."""
    if entry.base_name == LOCK:
        return True
    if entry.base_name != "logs" or entry.type != pafs.FileType.Directory:
        return False
    inside = folder.fs.get_file_info(pafs.FileSelector(entry.path, allow_not_found=True))
    return all(i.base_name == LOG for i in inside)


def claim(folder: RunFolder) -> None:
    """ValueError if the folder holds files and is not a run folder: never write into someone else's files."""
    entries = folder.fs.get_file_info(pafs.FileSelector(folder.root, allow_not_found=True))
    if not all(_ours(e, folder) for e in entries) and not folder.exists("run.json"):
        raise ValueError(f"{folder.address} is not empty and not an audit run folder (no run.json); "
                         f"choose a new or empty output folder")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (/proc/<pid>/stat); None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": process_start(os.getpid())}


def _same_process(owner: dict, me: dict) -> bool:
    return all(owner.get(key) == me[key] for key in ("host", "pid", "started"))


def _gone(owner: dict) -> bool:
    """Whether the lock's owner on this host is gone: no such process, or one started at another time."""
    pid = int(owner.get("pid", -1))
    return not _alive(pid) or (owner.get("started") is not None and process_start(pid) not in (None, owner["started"]))


def _owner(folder: RunFolder) -> dict | None:
    """The current lock's owner, or None when there is no lock or its owner is gone from this host."""
    if not folder.exists(LOCK):
        return None
    try:
        owner = storage.read_json(folder.fs, folder.path(LOCK))
    except (OSError, ValueError):
        return None  # a lock cut short by a crash while it was written
    if owner.get("host") == socket.gethostname() and _gone(owner):
        return None
    return owner


def _write_exclusive(folder: RunFolder, owner: dict) -> bool:
    """Create run.lock if absent: atomic on local disk (O_EXCL); object stores have no such call, so a
    check-then-write there only narrows the window."""
    data = json.dumps(owner).encode()
    if isinstance(folder.fs, pafs.LocalFileSystem):
        os.makedirs(folder.root, exist_ok=True)
        try:
            fd = os.open(folder.path(LOCK), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return True
    if folder.exists(LOCK):
        return False
    storage.write_bytes(folder.fs, folder.path(LOCK), data)
    return True


@contextmanager
def locked(folder: RunFolder, command: str) -> Iterator[None]:
    """Hold run.lock while `command` writes into the folder; ValueError if another live run holds it."""
    me = _me() | {"command": command, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    while not _write_exclusive(folder, me):
        owner = _owner(folder)
        if owner is not None and _same_process(owner, me):
            yield  # held already by this process, which releases it
            return
        if owner is not None:
            raise ValueError(f"{folder.address} is in use by {owner.get('command', 'a run')} (process "
                             f"{owner.get('pid')} on {owner.get('host')} since {owner.get('since')}); wait for it, "
                             f"or remove {folder.path(LOCK)} if no run uses the folder")
        storage.remove_file(folder.fs, folder.path(LOCK))  # stale: its owner is gone
    try:
        yield
    finally:
        storage.remove_file(folder.fs, folder.path(LOCK))
