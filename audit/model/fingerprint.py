"""A cheap fingerprint of the model files a score depends on, so that a resume never mixes two models.

It hashes each file's path and size and a few 64 KiB samples spread over it (the start holds a safetensors
file's header): replacing weights, even by a fine-tune of the same shapes, changes every sample. Cost:
at most 8 reads per file, whatever its size (measured in the README on a 3.4 GB folder).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 64 * 1024
SAMPLES = 8
UNUSED = {"vae", "safety_checker", "feature_extractor", "image_encoder"}  # never loaded to score


def _files(folder: Path) -> list[Path]:
    """Files of the components a score uses (and model_index.json), in a fixed order; hidden ones skipped."""
    found = []
    for root, dirs, names in os.walk(folder):
        rel = Path(root).relative_to(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (rel == Path(".") and d in UNUSED))
        found += [Path(root) / n for n in sorted(names) if not n.startswith(".")]
    return found


def _samples(path: Path, size: int) -> bytes:
    """The whole file if small, else SAMPLES chunks evenly spread from its start to its end."""
    with path.open("rb") as src:
        if size <= SAMPLES * CHUNK:
            return src.read()
        parts = []
        for k in range(SAMPLES):
            src.seek(k * (size - CHUNK) // (SAMPLES - 1))
            parts.append(src.read(CHUNK))
        return b"".join(parts)


def fingerprint(folder: str | Path) -> str:
    """'sha256:<16 hex>' over the folder's relevant files (paths, sizes, sampled content)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in _files(folder):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        digest.update(hashlib.sha256(_samples(path, size)).digest())
    return "sha256:" + digest.hexdigest()[:16]


def local_folder(source: str) -> Path:
    """The folder a model was loaded from: itself, or a hub id's cached snapshot (its commit in the path)."""
    if os.path.isdir(source):
        return Path(source)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(source, local_files_only=True))
