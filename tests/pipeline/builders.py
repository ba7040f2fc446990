"""Small caption shards in the input formats of `scan`, and a driver killed mid-run, for the pipeline tests."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from tests.ray_session import wait_until_idle

WORDS = ["red", "blue", "tiny", "large", "old", "misty", "golden", "quiet"]
THINGS = ["cat", "house", "river", "car", "tree", "robot", "boat", "city"]


def caption(i: int) -> str:
    return f"a {WORDS[i % 8]} {THINGS[i // 8 % 8]} photo, number {i}"


def write_laion(path: Path, first: int, rows: int, bad: bool = True, row_group_size: int | None = None) -> Path:
    """LAION-schema Parquet (SAMPLE_ID, URL, TEXT, ...); with `bad`, rows 1-3 are null, empty, blank."""
    texts = [caption(first + i) for i in range(rows)]
    if bad:
        texts[1:4] = [None, "", "   "]
    pq.write_table(pa.table({"SAMPLE_ID": pa.array(range(first, first + rows), pa.int64()),
                             "URL": [f"https://x.test/{first + i}.jpg" for i in range(rows)], "TEXT": texts,
                             "WIDTH": pa.array([512] * rows, pa.int32())}), path, row_group_size=row_group_size)
    return path


def write_tar(path: Path, first: int, rows: int) -> Path:
    """A WebDataset shard: jpg + txt + json per sample; sample 1 has undecodable text, sample 2 no text."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for i in range(rows):
            key = f"{first + i:09d}"
            members = {"jpg": b"\xff\xd8 not really a jpeg", "json": json.dumps({"url": f"u{first + i}"}).encode(),
                       "txt": b"\xff\xfe\xfa" if i == 1 else caption(first + i).encode()}
            if i == 2:
                del members["txt"]
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path


def markers(out: Path) -> dict[str, int]:
    """Done markers of a run folder: name -> modification time (ns)."""
    return files(out)


def files(out: Path, kind: str = "done", suffix: str = ".json") -> dict[str, int]:
    """Files of a run folder's `kind` subfolder: name -> modification time (ns)."""
    folder = out / kind
    return {p.name: p.stat().st_mtime_ns for p in folder.glob(f"*{suffix}")} if folder.exists() else {}


def stop_scan(scan_args: list[str], out: Path, address: str, log: Path, until: Callable[[], bool],
              sig: signal.Signals = signal.SIGKILL) -> int:
    """Run `scan` as a separate driver on the test's cluster (stderr to `log`), send it `sig` once `until()` holds
    (or it exits, or 240 s pass), and wait until Ray has ended its work; the driver's exit code."""
    with open(log, "w") as sink:
        driver = subprocess.Popen([sys.executable, "-m", "audit", "scan", *scan_args, "-o", str(out),
                                   "--address", address], stdout=subprocess.DEVNULL, stderr=sink,
                                  env=os.environ | {"AUDIT_TORCH_THREADS": "1"})
    try:
        deadline = time.monotonic() + 240
        while not until() and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        driver.send_signal(sig)
    code = driver.wait(timeout=120)
    wait_until_idle()  # Ray has ended the driver's tasks and actors: nothing of it can still write a file
    return code


def kill_scan_after_first_marker(scan_args: list[str], out: Path, address: str, log: Path,
                                 kind: str = "done", suffix: str = ".json") -> dict[str, int]:
    """SIGKILL a `scan` driver once a file appears in `out/kind` (by default: once a unit is done); the files of
    `kind` it left."""
    code = stop_scan(scan_args, out, address, log, until=lambda: bool(files(out, kind, suffix)))
    assert code == -signal.SIGKILL, log.read_text()[-2000:]
    return files(out, kind, suffix)
