"""The identity of the model files a score depends on, so that a resume never mixes two models.

Every byte counts: the fingerprint hashes each file's path, size and SHA-256 of its whole content, so any
change to any tensor (a merged LoRA, a text-encoder-only fine-tune) changes it. A file's digest is computed
once and cached by the file's identity (real path, device, inode, size, mtime and ctime: the ctime changes
with every write, even one that puts the old mtime back), so a repeat costs a stat per file. The cache is one
small JSON file per model file in `cache_dir()`; where it cannot be written, each run hashes again. Cost
measured in the README (a 4.3 GB SD folder: cold 11 to 18 s on a shared 2-core machine, warm under 1 ms).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

UNUSED = {"vae", "safety_checker", "feature_extractor", "image_encoder"}  # never loaded to score
ROOT_FILES = {"model_index.json"}  # the pipeline folder's own files that a score reads


def cache_dir() -> Path:
    """$AUDIT_CACHE_DIR, else $XDG_CACHE_HOME/audit/fingerprints, else ~/.cache/audit/fingerprints."""
    if os.environ.get("AUDIT_CACHE_DIR"):
        return Path(os.environ["AUDIT_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "audit" / "fingerprints"


def _files(folder: Path) -> list[Path]:
    """Files of the components a score uses (and model_index.json), in a fixed order; hidden ones skipped."""
    found = []
    for root, dirs, names in os.walk(folder):
        top = Path(root) == folder
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (top and d in UNUSED))
        found += [Path(root) / n for n in sorted(names) if not n.startswith(".") and (not top or n in ROOT_FILES)]
    return found


def _stamp(path: Path) -> dict:
    """What says a file is unchanged: its real path, device, inode, size, mtime and ctime."""
    st = os.stat(path)
    return {"path": os.path.realpath(path), "dev": st.st_dev, "ino": st.st_ino, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


def _store(entry: Path, value: dict) -> None:
    """Write a cache entry atomically; a cache that cannot be written is no error (the next run hashes again)."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f"{entry.name}.tmp-{uuid.uuid4().hex[:8]}")
        tmp.write_text(json.dumps(value))
        os.replace(tmp, entry)
    except OSError as err:
        log.debug("fingerprint cache not written (%s)", err)


def content_digest(path: Path) -> str:
    """SHA-256 hex digest of the file's content, from the cache when the file's stamp is unchanged."""
    stamp = _stamp(path)
    entry = cache_dir() / f"{hashlib.sha1(stamp['path'].encode()).hexdigest()}.json"
    try:
        cached = json.loads(entry.read_text())
        if cached.get("stamp") == stamp:
            return cached["sha256"]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    with path.open("rb") as src:
        digest = hashlib.file_digest(src, "sha256").hexdigest()
    if _stamp(path) == stamp:  # not written while it was read
        _store(entry, {"stamp": stamp, "sha256": digest})
    return digest


def fingerprint(folder: str | Path) -> str:
    """'sha256:<16 hex>' over the folder's relevant files (paths, sizes, content digests)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in _files(folder):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{path.stat().st_size}\0".encode())
        digest.update(bytes.fromhex(content_digest(path)))
    return "sha256:" + digest.hexdigest()[:16]


def local_folder(source: str) -> Path:
    """The folder a model was loaded from: itself, or a hub id's cached snapshot (its commit in the path)."""
    if os.path.isdir(source):
        return Path(source)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(source, local_files_only=True))


def adapter_identity(loras: list) -> list[dict]:
    """Each applied adapter (a LoraSpec) by path, scale and the SHA-256 of its file, in order."""
    return [{"path": spec.path, "scale": spec.scale, "sha256": content_digest(Path(spec.path))} for spec in loras]


def with_adapters(base: str, adapters: list[dict]) -> str:
    """The fingerprint of a base model with adapters applied: the base's alone when there are none."""
    if not adapters:
        return base
    digest = hashlib.sha256(base.encode())
    for a in adapters:
        digest.update(f"\0{a['sha256']}\0{float(a['scale'])!r}".encode())
    return "sha256:" + digest.hexdigest()[:16]


def source_fingerprint(source: str, config: str | None) -> str:
    """A pipeline folder's (or hub id's) fingerprint; a single-file checkpoint's covers its content and its config
    folder's."""
    if config is None:
        return fingerprint(local_folder(source))
    digest = hashlib.sha256(f"{content_digest(Path(source))}\0{fingerprint(local_folder(config))}".encode())
    return "sha256:" + digest.hexdigest()[:16]
