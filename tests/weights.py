"""Editing a safetensors weight file in place, as a fine-tune or a tamperer would, for the fingerprint tests."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path


def tensor_spans(path: Path) -> dict[str, tuple[int, int]]:
    """Name -> (start, end) byte offsets of each tensor's data in a safetensors file."""
    size = struct.unpack("<Q", path.read_bytes()[:8])[0]
    header = json.loads(path.read_bytes()[8:8 + size])
    return {name: (8 + size + a, 8 + size + b) for name, meta in header.items() if name != "__metadata__"
            for a, b in [meta["data_offsets"]]}


def rewrite_keeping_mtime(path: Path, start: int, data: bytes) -> None:
    """Overwrite bytes in place, then put the old modification time back (as a careful tamperer would)."""
    before = path.stat()
    with path.open("r+b") as out:
        out.seek(start)
        out.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
