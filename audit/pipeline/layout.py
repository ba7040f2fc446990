"""Where a scan keeps its state in the output folder, so that a second run can resume the first.

    run.json             parameters that determine the scores (checked on resume)
    scores/<shard>.parquet  finished shard: scores, provenance and passthrough columns
    done/<shard>.json    completion marker: row count, status counts, score quantiles
    failed/<shard>.json  why a shard could not be read (cleared on the next run)
    staging/<shard>/     a shard in progress: passthrough columns and scored parts
    report/              the ranked report (Parquet dataset); flagged.parquet; summary.json
    report.html, plots/  the human-readable report (`audit report` rewrites it)
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow.fs as pafs

from audit.pipeline import storage


@dataclass(frozen=True)
class Layout:
    """The output folder of one scan: its address as given (passed to Ray tasks), filesystem and root path."""

    address: str
    fs: pafs.FileSystem
    root: str

    @classmethod
    def at(cls, address: str) -> "Layout":
        fs, root = storage.resolve(address)
        return cls(address if storage.is_uri(address) else root, fs, root)

    def path(self, *parts: str) -> str:
        return storage.join(self.root, *parts)

    def scores(self, shard_id: str) -> str:
        return self.path("scores", f"{shard_id}.parquet")

    def done(self, shard_id: str) -> str:
        return self.path("done", f"{shard_id}.json")

    def failed(self, shard_id: str) -> str:
        return self.path("failed", f"{shard_id}.json")

    def staging(self, shard_id: str, *parts: str) -> str:
        return self.path("staging", shard_id, *parts)

    def done_ids(self) -> set[str]:
        """Ids of shards with a completion marker."""
        return {p.rsplit("/", 1)[1][: -len(".json")] for p in storage.list_files(self.fs, self.path("done"), ".json")}
