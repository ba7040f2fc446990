"""The run folder of one scan: where it keeps its state (so a second run can resume the first) and its results.

    run.json             parameters that determine the scores (checked on resume)
    scores/<shard>.parquet  finished shard: scores, provenance and passthrough columns
    done/<shard>.json    completion marker: row count, status counts, score quantiles
    failed/<shard>.json  why a shard could not be read (cleared on the next run)
    staging/<shard>/     a shard in progress: passthrough columns and scored parts
    keyed/<shard>.json   dedup: the shard's rows are read and keyed into scores/ (numbers still missing)
    key_scores/          dedup: the numbers of each distinct caption key scored so far (kept across runs)
    report/              the ranked report (Parquet dataset); flagged.parquet; summary.json
    report.html, plots/  the human-readable report (`audit report` rewrites it)
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import islice
from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from audit.runfolder import storage
from audit.runfolder.groups import CaptionGroup, group_rows
from audit.schemas import SHOWN

MITIGATION_OUTPUTS = ("mitigations.parquet", "embeddings", "mitigation")  # derived from one report
NULLABLE = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}  # pandas types that keep nulls


@dataclass(frozen=True)
class RunFolder:
    """The output folder of one scan, local or on an object store: its address as given (passed to Ray
    tasks), filesystem and root path; paths of its parts and readers of its results (only the columns needed)."""

    address: str
    fs: pafs.FileSystem
    root: str

    @classmethod
    def at(cls, address: str) -> "RunFolder":
        fs, root = storage.resolve(address)
        return cls(address if storage.is_uri(address) else root, fs, root)

    def path(self, *parts: str) -> str:
        return storage.join(self.root, *parts)

    def exists(self, *parts: str) -> bool:
        return storage.exists(self.fs, self.path(*parts))

    def scores(self, shard_id: str) -> str:
        return self.path("scores", f"{shard_id}.parquet")

    def done(self, shard_id: str) -> str:
        return self.path("done", f"{shard_id}.json")

    def failed(self, shard_id: str) -> str:
        return self.path("failed", f"{shard_id}.json")

    def keyed(self, shard_id: str) -> str:
        return self.path("keyed", f"{shard_id}.json")

    def ids(self, kind: str, suffix: str = ".json") -> set[str]:
        """Ids of the shards with a file in `kind`/ (done, failed, keyed, scores)."""
        return {p.rsplit("/", 1)[1][: -len(suffix)] for p in storage.list_files(self.fs, self.path(kind), suffix)}

    def keyed_ids(self) -> set[str]:
        """Ids of shards read and keyed (dedup's first phase)."""
        return self.ids("keyed")

    def staging(self, shard_id: str, *parts: str) -> str:
        return self.path("staging", shard_id, *parts)

    def done_ids(self) -> set[str]:
        """Ids of shards with a completion marker."""
        return self.ids("done")

    def summary(self) -> dict:
        """summary.json; ValueError if it is missing or not JSON (the scan did not finish)."""
        if not self.exists("summary.json"):
            raise ValueError(f"{self.address}: no summary.json (not a finished scan folder)")
        try:
            return storage.read_json(self.fs, self.path("summary.json"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.address}: summary.json is not valid JSON ({err})") from None

    def drop_mitigations(self) -> list[str]:
        """Delete what a mitigation derived from an earlier report (it describes other rows); return what was."""
        present = [name for name in MITIGATION_OUTPUTS if self.exists(name)]
        for name in present:
            if self.fs.get_file_info(self.path(name)).type == pafs.FileType.Directory:
                storage.remove_tree(self.fs, self.path(name))
            else:
                storage.remove_file(self.fs, self.path(name))
        return present

    def report_files(self) -> list[str]:
        """The report/ parts in rank order; ValueError if there are none."""
        files = storage.list_files(self.fs, self.path("report"), ".parquet")
        if not files:
            raise ValueError(f"{self.address}: no report/ Parquet files (not a finished scan folder)")
        return files

    def _file(self, path: str) -> pq.ParquetFile:
        return pq.ParquetFile(path, filesystem=self.fs)

    def report_columns(self) -> list[str]:
        """Column names of the report."""
        return self._file(self.report_files()[0]).schema_arrow.names

    def report_rows(self) -> int:
        """Rows in report/, from the Parquet footers."""
        return sum(self._file(p).metadata.num_rows for p in self.report_files())

    def flagged_rows(self) -> int:
        """Rows in flagged.parquet, from its footer."""
        return self._file(self.path("flagged.parquet")).metadata.num_rows

    def report_batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        """The report's rows in rank order, `columns` only, one batch at a time."""
        for path in self.report_files():
            yield from self._file(path).iter_batches(columns=columns)

    def report(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole report in rank order as a DataFrame (integer and boolean columns stay so, nullable)."""
        tables = [self._file(p).read(columns=columns) for p in self.report_files()]
        return pa.concat_tables(tables, promote_options="permissive").to_pandas(types_mapper=NULLABLE.get)

    def flagged(self) -> pd.DataFrame:
        """The flagged rows in rank order as a DataFrame."""
        return self._file(self.path("flagged.parquet")).read().to_pandas(types_mapper=NULLABLE.get)

    def _score_range(self, paths: list[str]) -> tuple[float, float] | None:
        """(lowest, highest) finite score in `paths`, from the Parquet column statistics; None if none."""
        lows, highs = [], []
        for path in paths:
            meta = self._file(path).metadata
            column = meta.schema.names.index("score")
            for g in range(meta.num_row_groups):
                stats = meta.row_group(g).column(column).statistics
                if stats is not None and stats.has_min_max and math.isfinite(stats.min) and math.isfinite(stats.max):
                    lows.append(stats.min)
                    highs.append(stats.max)
        return (min(lows), max(highs)) if lows else None

    def score_range(self) -> tuple[float, float] | None:
        """(lowest, highest) score of the scored rows."""
        return self._score_range(self.report_files())

    def lowest_flagged_score(self) -> float | None:
        """The score of the last flagged row (the cut of a top-k rule); None if nothing was flagged."""
        span = self._score_range([self.path("flagged.parquet")])
        return span[0] if span else None

    def _flagged_columns(self, wanted: list[str]) -> tuple[pq.ParquetFile, list[str]]:
        flagged = self._file(self.path("flagged.parquet"))
        return flagged, [c for c in wanted if c in flagged.schema_arrow.names]

    def top_flagged(self, limit: int, extra: tuple[str, ...] = ()) -> pd.DataFrame:
        """The first `limit` rows of flagged.parquet (rank order): the score columns plus those of `extra` it has."""
        flagged, columns = self._flagged_columns([*SHOWN, *extra])
        batches, rows = [], 0
        for batch in flagged.iter_batches(batch_size=max(limit, 1), columns=columns):
            if rows >= limit:
                break
            batches.append(batch.slice(0, limit - rows))
            rows += batches[-1].num_rows
        table = pa.Table.from_batches(batches, schema=pa.schema([flagged.schema_arrow.field(c) for c in columns]))
        return table.to_pandas(types_mapper=NULLABLE.get)

    def flagged_captions(self, limit: int, extra: tuple[str, ...] = ()) -> list[CaptionGroup]:
        """The first `limit` distinct flagged captions in rank order, each with its flagged rows' count and places
        (copies of a caption: rows with its caption key; without dedup, with its text)."""
        flagged, columns = self._flagged_columns([*SHOWN, "caption_key", *extra])
        return list(islice(group_rows(flagged.iter_batches(columns=columns)), limit))

    def count_flagged_captions(self) -> int:
        """Distinct captions among the flagged rows (one streaming pass over flagged.parquet)."""
        flagged, columns = self._flagged_columns(["score", "caption_key", "caption", "row_id"])
        return sum(1 for _ in group_rows(flagged.iter_batches(columns=columns), places=0))

    def mitigations(self, row_ids: list[int]) -> dict[int, dict] | None:
        """mitigations.parquet rows of `row_ids`, by row id; None when the run has no mitigations file."""
        if not self.exists("mitigations.parquet"):
            return None
        if not row_ids:
            return {}
        table = pq.read_table(self.path("mitigations.parquet"), filesystem=self.fs,
                              filters=[("row_id", "in", row_ids)])
        return {row["row_id"]: row for row in table.to_pylist()}
