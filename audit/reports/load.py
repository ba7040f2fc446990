"""Read a scan's run folder (summary.json, report/, flagged.parquet, mitigations.parquet), only the columns needed."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from audit.pipeline import storage
from audit.pipeline.layout import Layout

URL_COLUMNS = ("url", "URL")


@dataclass(frozen=True)
class RunFolder:
    """The output folder of one `scan`, local or on an object store."""

    layout: Layout

    @classmethod
    def at(cls, address: str) -> "RunFolder":
        return cls(Layout.at(address))

    def path(self, *parts: str) -> str:
        return self.layout.path(*parts)

    def exists(self, *parts: str) -> bool:
        return storage.exists(self.layout.fs, self.path(*parts))

    def summary(self) -> dict:
        """summary.json; ValueError if it is missing or not JSON (the scan did not finish)."""
        if not self.exists("summary.json"):
            raise ValueError(f"{self.layout.address}: no summary.json (not a finished scan folder)")
        try:
            return storage.read_json(self.layout.fs, self.path("summary.json"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.layout.address}: summary.json is not valid JSON ({err})") from None

    def report_files(self) -> list[str]:
        """The report/ parts in rank order; ValueError if there are none."""
        files = storage.list_files(self.layout.fs, self.path("report"), ".parquet")
        if not files:
            raise ValueError(f"{self.layout.address}: no report/ Parquet files (not a finished scan folder)")
        return files

    def _file(self, path: str) -> pq.ParquetFile:
        return pq.ParquetFile(path, filesystem=self.layout.fs)

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

    def top_flagged(self, limit: int, extra: tuple[str, ...] = ()) -> pa.Table:
        """The first `limit` rows of flagged.parquet (rank order): the score columns plus those of `extra` it has."""
        flagged = self._file(self.path("flagged.parquet"))
        wanted = ["rank", "row_id", "caption", "score", "norm", "cosine", "source", "row_index", "key", *extra]
        columns = [c for c in wanted if c in flagged.schema_arrow.names]
        batches, rows = [], 0
        for batch in flagged.iter_batches(batch_size=max(limit, 1), columns=columns):
            if rows >= limit:
                break
            batches.append(batch.slice(0, limit - rows))
            rows += batches[-1].num_rows
        return pa.Table.from_batches(batches, schema=pa.schema([flagged.schema_arrow.field(c) for c in columns]))

    def mitigations(self, row_ids: list[int]) -> dict[int, dict] | None:
        """mitigations.parquet rows of `row_ids`, by row id; None when the run has no mitigations file."""
        if not self.exists("mitigations.parquet"):
            return None
        if not row_ids:
            return {}
        table = pq.read_table(self.path("mitigations.parquet"), filesystem=self.layout.fs,
                              filters=[("row_id", "in", row_ids)])
        return {row["row_id"]: row for row in table.to_pylist()}
