"""The two Ray tasks of the global ranking: split shards into score-range buckets, then rank each bucket."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from audit.ranking.buckets import scored_bucket, unscored_bucket
from audit.ranking.flagging import Flagging
from audit.readers.dispatch import as_text
from audit.readers.status import OK
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder


@dataclass(frozen=True)
class Plan:
    """Cut points of the scored buckets; unscored rows go to `unscored_buckets` buckets after them."""

    cuts: list[float]
    unscored_buckets: int
    total_rows: int
    scored_rows: int

    @property
    def scored_buckets(self) -> int:
        return len(self.cuts) + 1


def bucket_folder(folder: RunFolder, bucket: int) -> str:
    """Where the partition tasks put a bucket's pieces, one file per shard."""
    return folder.path("staging", "rank", f"{bucket:06d}")


def partition_shard(output: str, shard_id: str, row_offset: int, plan: Plan) -> tuple[dict[int, int], pa.Schema]:
    """Write the shard's rows (with `row_id`) into bucket folders; return rows per bucket and the shard's schema."""
    folder = RunFolder.at(output)
    table = storage.read_table(folder.fs, folder.scores(shard_id))
    row_id = np.arange(table.num_rows, dtype=np.int64) + row_offset
    table = table.append_column("row_id", pa.array(row_id))
    scores = table["score"].to_numpy(zero_copy_only=False)
    ok = (table["status"].to_numpy(zero_copy_only=False) == OK) & np.isfinite(scores)
    bucket = np.where(ok, scored_bucket(scores, plan.cuts),
                      unscored_bucket(row_id, plan.scored_buckets, plan.unscored_buckets, plan.total_rows))
    counts = {}
    for b in np.unique(bucket).tolist():
        rows = table.filter(pa.array(bucket == b))
        storage.write_table(folder.fs, storage.join(bucket_folder(folder, b), f"{shard_id}.parquet"), rows)
        counts[b] = rows.num_rows
    return counts, table.schema


def _column(table: pa.Table, field: pa.Field) -> pa.ChunkedArray | pa.Array:
    """The table's column cast to the field's type (as text if no cast exists), or nulls if it has none."""
    if field.name not in table.column_names:
        return pa.nulls(table.num_rows, field.type)
    try:
        return table[field.name].cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([as_text(v) for v in table[field.name].to_pylist()], field.type)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly the fields of `schema`."""
    return pa.table([_column(table, f) for f in schema], schema=schema)


def rank_bucket(output: str, bucket: int, first_rank: int | None, plan: Plan, data_schema: pa.Schema,
                report_schema: pa.Schema, flagging: Flagging) -> int:
    """Sort one bucket, add rank / percentile / flagged, write report/part-<bucket>.parquet; return flagged rows.

    `first_rank` is the rank of the bucket's best row; None for a bucket of unscored rows (kept in row order).
    """
    folder = RunFolder.at(output)
    table = pa.concat_tables([_conform(storage.read_table(folder.fs, p), data_schema)
                              for p in storage.list_files(folder.fs, bucket_folder(folder, bucket), ".parquet")])
    n = table.num_rows
    if first_rank is None:
        table = table.sort_by("row_id")
        rank, percentile, flags = pa.nulls(n, pa.int64()), pa.nulls(n, pa.float64()), np.zeros(n, dtype=bool)
    else:
        table = table.sort_by([("score", "descending"), ("row_id", "ascending")])
        ranks = np.arange(first_rank, first_rank + n, dtype=np.int64)
        rank, percentile = pa.array(ranks), pa.array(100.0 * (plan.scored_rows - ranks + 1) / plan.scored_rows)
        flags = flagging.flags(table["score"].to_numpy(), ranks)
    table = table.append_column("rank", rank).append_column("percentile", percentile)
    table = table.append_column("flagged", pa.array(flags))
    out = pa.table([table[f.name] for f in report_schema], schema=report_schema)
    storage.write_table(folder.fs, folder.path("report", f"part-{bucket:06d}.parquet"), out)
    return int(flags.sum())
