"""The global ranking of a scan: every row of every finished shard exactly once, sorted by score, into report/.

Memory: the ranking is a range-partitioned sort run as Ray tasks. One task per shard splits its
score file into score-range buckets (cut points come from the 32-score samples in the done markers);
one task per bucket sorts and ranks it alone and writes report/part-<bucket>.parquet, so the parts in
name order are the global rank order. The driver handles per-shard samples, per-bucket row counts and
schemas, never rows: its memory does not grow with the number of rows. Task memory is bounded by the
largest shard and by `rows_per_file`.
"""
from __future__ import annotations

import json
from itertools import accumulate
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import ray

from audit.ranking.buckets import bucket_count, cut_points
from audit.ranking.flagging import Flagging
from audit.ranking.range_tasks import Plan, partition_shard, rank_bucket
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder
from audit.schemas import METADATA_KEY, RANK_FIELDS, REPORT_LEAD, SHARD_BASE, with_pandas_types


def _unify_field(name: str, fields: list[pa.Field]) -> pa.Field:
    try:
        return pa.unify_schemas([pa.schema([f]) for f in fields], promote_options="permissive").field(0)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.field(name, pa.string())


def _unify(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for all shards: types promoted where Arrow can, text where shards disagree (int vs string)."""
    fields: dict[str, list[pa.Field]] = {}
    for schema in schemas:
        for f in schema:
            fields.setdefault(f.name, []).append(f)
    return pa.schema([_unify_field(name, same) for name, same in fields.items()])


def _report_schema(data: pa.Schema, metadata: dict) -> pa.Schema:
    """Report columns first, then passthrough columns; the run parameters in the schema metadata."""
    fields = {f.name: f for f in [*data, *RANK_FIELDS]}
    names = [n for n in REPORT_LEAD if n in fields] + [n for n in fields if n not in REPORT_LEAD]
    schema = pa.schema([fields[n] for n in names], metadata={METADATA_KEY: json.dumps(metadata, default=str).encode()})
    return with_pandas_types(schema)


def _write_flagged(folder: RunFolder, schema: pa.Schema) -> None:
    """flagged.parquet: the flagged rows of the report parts, in rank order, one part in memory at a time."""
    path = folder.path("flagged.parquet")
    tmp = path + ".tmp"
    with folder.fs.open_output_stream(tmp) as sink, pq.ParquetWriter(sink, schema) as writer:
        for part in storage.list_files(folder.fs, folder.path("report"), ".parquet"):
            writer.write_table(pq.read_table(part, filesystem=folder.fs, filters=[("flagged", "=", True)],
                                             schema=schema))
    folder.fs.move(tmp, path)


def _each(fn: Callable, calls: list[tuple], here: bool) -> list:
    """`fn(*args)` for the args of each call: in this process (a small scan), else as parallel Ray tasks."""
    if here:
        return [fn(*args) for args in calls]
    remote = ray.remote(fn)
    return ray.get([remote.remote(*args) for args in calls])


def rank_finished_shards(folder: RunFolder, markers: list[tuple[str, dict]], flagging: Flagging, metadata: dict,
                         rows_per_file: int, here: bool = False) -> int:
    """Rank the finished shards (`(shard_id, done marker)`) into report/ (`here`: in this process, not in Ray
    tasks); return flagged rows.

    A row's `row_id` is its position in the inputs taken in address order: the same whatever order the
    inputs are given in, and its score ties are broken by it.
    """
    markers = sorted(markers, key=lambda m: (m[1]["source"], m[1].get("first_row", 0)))  # ids in address order
    total = sum(m["rows"] for _, m in markers)
    scored = sum(m["scored"] for _, m in markers)
    plan = Plan(cut_points([(m["score_sample"], m["scored"]) for _, m in markers], rows_per_file),
                bucket_count(total - scored, rows_per_file), total, scored)
    for name in ("report", "staging/rank"):
        storage.remove_tree(folder.fs, folder.path(name))
    offsets = [0, *accumulate(m["rows"] for _, m in markers)]
    results = _each(partition_shard, [(folder.address, sid, offsets[i], plan) for i, (sid, _) in enumerate(markers)],
                    here)
    counts = [0] * (plan.scored_buckets + plan.unscored_buckets)
    for shard_counts, _ in results:
        for bucket, n in shard_counts.items():
            counts[bucket] += n
    distinct = {str(schema): schema for _, schema in results}
    data = _unify([SHARD_BASE, *distinct.values()])
    schema = _report_schema(data, metadata)
    firsts = list(accumulate(counts[: plan.scored_buckets - 1], initial=1))  # rank of each bucket's best row
    tasks = [(folder.address, b, firsts[b] if b < plan.scored_buckets else None, plan, data, schema, flagging)
             for b, n in enumerate(counts) if n]
    flagged = sum(_each(rank_bucket, tasks, here))
    if not tasks:
        storage.write_table(folder.fs, folder.path("report", "part-000000.parquet"), schema.empty_table())
    _write_flagged(folder, schema)
    storage.remove_tree(folder.fs, folder.path("staging", "rank"))
    return flagged
