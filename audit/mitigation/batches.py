"""Per-batch result files of a mitigation run, tied to the scan and settings they came from.

    mitigation/<key>/identity.json        the scan's hash and the settings that make up `key`
    mitigation/<key>/batch-<k>.parquet    results of distinct flagged captions k*B+1 .. (k+1)*B and their copies,
                                          written atomically (the marker)

A rerun with the same key redoes only the batches without a file; a different key (another scan in the folder,
other flagged rows, other settings) makes the old files stale: they and their embeddings are deleted.
"""
from __future__ import annotations

import hashlib
import json

import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from audit.runfolder import storage
from audit.runfolder.folder import RunFolder

ROOT = "mitigation"
INPUT_COLUMNS = ["rank", "row_id", "caption", "score"]


def scan_hash(folder: RunFolder) -> str:
    """Hash of run.json and the flagged rows' row ids and captions, read a batch at a time."""
    digest = hashlib.sha256()
    with folder.fs.open_input_stream(folder.path("run.json")) as src:
        digest.update(src.read())
    flagged = pq.ParquetFile(folder.path("flagged.parquet"), filesystem=folder.fs)
    for batch in flagged.iter_batches(columns=["row_id", "caption"]):
        for row_id, caption in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            digest.update(f"{row_id}\t{caption}\n".encode())
    return digest.hexdigest()


def plan(folder: RunFolder, batch_size: int) -> pd.DataFrame:
    """The flagged rows (rank order) with their `batch` and `same_as`: each distinct caption is mitigated once,
    with its best-ranked row; its other rows (`same_as`: that row's row_id) copy the result. Batch k holds the
    distinct captions k*B+1 .. (k+1)*B in rank order of their first rows, with all their copies."""
    rows = pq.read_table(folder.path("flagged.parquet"), filesystem=folder.fs, columns=INPUT_COLUMNS).to_pandas()
    rows = rows.sort_values("rank", kind="stable").reset_index(drop=True)
    groups = rows.groupby("caption", sort=False)
    first = groups["row_id"].transform("first")
    return rows.assign(batch=groups.ngroup() // batch_size,
                       same_as=pd.array(first.where(first != rows["row_id"]), dtype="Int64"))


class BatchStore:
    """The batch files of one (scan, settings) key in a run folder."""

    def __init__(self, folder: RunFolder, scan: str, settings: dict):
        self.folder = folder
        self.identity = {"scan": scan, "settings": settings}
        self.key = hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = folder.path(ROOT, self.key)

    def discard_stale(self) -> list[str]:
        """Delete other keys' batch files and, if there were any, the embeddings they wrote; their keys."""
        fs, root = self.folder.fs, self.folder.path(ROOT)
        stale = [i.base_name for i in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
                 if i.type == pafs.FileType.Directory and i.base_name != self.key]
        for key in stale:
            storage.remove_tree(fs, storage.join(root, key))
        if stale:
            storage.remove_tree(fs, self.folder.path("embeddings"))
        storage.write_json(fs, storage.join(self.dir, "identity.json"), self.identity)
        return stale

    def path(self, batch: int) -> str:
        return storage.join(self.dir, f"batch-{batch:08d}.parquet")

    def files(self) -> list[str]:
        """The finished batch files, in batch (rank) order."""
        return sorted(storage.list_files(self.folder.fs, self.dir, ".parquet"))

    def done(self) -> set[int]:
        """Numbers of the finished batches."""
        return {int(p.rsplit("-", 1)[1][: -len(".parquet")]) for p in self.files()}
