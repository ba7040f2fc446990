"""Persist scored rows: part files per batch (the pipeline's write stage), then one file per finished shard."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from audit import schemas
from audit.ranking.buckets import score_sample
from audit.readers.inputs import Shard
from audit.readers.status import OK
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder


def write_parts(batch: pa.Table, output: str) -> pa.Table:
    """Write the contiguous row runs of each shard and actor call in `batch` to staging/<shard>/parts/; one
    record per part, with its rows' scoring seconds and its call."""
    folder, records = RunFolder.at(output), []
    calls = batch.group_by(schemas.CALL.names, use_threads=False).aggregate([]).to_pylist()
    for call in calls:
        of_call = batch.filter(pc.and_(pc.equal(batch["actor"], call["actor"]), pc.equal(batch["start"], call["start"])))
        for shard_id in pc.unique(of_call["shard_id"]).to_pylist():
            rows = of_call.filter(pc.equal(of_call["shard_id"], shard_id)).sort_by("row_index")
            index = rows["row_index"].to_numpy()
            starts = [0, *(np.flatnonzero(np.diff(index) != 1) + 1).tolist()]
            for a, b in zip(starts, [*starts[1:], len(index)]):
                name = f"{index[a]:012d}-{index[b - 1]:012d}.parquet"
                part = rows.slice(a, b - a).drop_columns(schemas.CALL.names)
                storage.write_table(folder.fs, folder.staging(shard_id, "parts", name), part)
                seconds = float(rows["seconds"].to_numpy()[a:b].sum())
                records.append({"shard_id": shard_id, "part": name, "rows": b - a,
                                "shard_rows": rows["shard_rows"][0].as_py(), "seconds": seconds, **call})
    return pa.Table.from_pylist(records, schema=schemas.PART)


def _scored_rows(folder: RunFolder, shard_id: str, first: int, shard_rows: int) -> pa.Table:
    """All parts of a shard in row order, each row once (a retried batch may have written a part twice)."""
    paths = storage.list_files(folder.fs, folder.staging(shard_id, "parts"), ".parquet")
    table = pa.concat_tables([storage.read_table(folder.fs, p) for p in paths]) if paths \
        else schemas.SCORED.empty_table().drop_columns(schemas.CALL.names)
    table = table.sort_by("row_index")
    index = table["row_index"].to_numpy()
    keep = np.ones(len(index), dtype=bool)
    keep[1:] = np.diff(index) != 0
    table = table.filter(pa.array(keep))
    expected = np.arange(first, first + shard_rows)
    if table.num_rows != shard_rows or not np.array_equal(table["row_index"].to_numpy(), expected):
        raise RuntimeError(f"shard {shard_id}: scored rows do not cover rows {first}..{first + shard_rows - 1}")
    return table


def done_marker(source: str, input_identity: str | None, first_row: int, table: pa.Table) -> dict:
    """A finished shard's marker: where its rows come from, how many were scored, and a sample of their scores
    (what ranking plans its buckets with)."""
    status = table["status"].to_numpy(zero_copy_only=False)
    ok = status == OK
    return {"source": source, "input": input_identity, "first_row": first_row, "rows": table.num_rows,
            "scored": int(ok.sum()),
            "status_counts": {str(k): int(v) for k, v in zip(*np.unique(status, return_counts=True))},
            "score_sample": score_sample(table["score"].to_numpy(zero_copy_only=False)[ok])}


def finalize_shard(output: str, shard: Shard, shard_rows: int) -> dict:
    """Join scores with passthrough columns into scores/<shard>.parquet, then write its done marker."""
    folder = RunFolder.at(output)
    scored = _scored_rows(folder, shard.shard_id, shard.first_row, shard_rows)
    extra = storage.read_table(folder.fs, folder.staging(shard.shard_id, "input.parquet"))
    columns = {"source": pa.array([shard.source] * shard_rows, pa.string()), "row_index": scored["row_index"]}
    columns |= {name: scored[name] for name in schemas.SCORE_COLUMNS}
    columns |= {f.name: pa.nulls(shard_rows, f.type) for f in schemas.DEDUP_FIELDS}  # --no-dedup: no keys
    columns |= {name: extra[name] for name in extra.column_names if name != "row_index"}
    storage.write_table(folder.fs, folder.scores(shard.shard_id), pa.table(columns))
    marker = done_marker(shard.source, shard.identity, shard.first_row, scored)
    storage.write_json(folder.fs, folder.done(shard.shard_id), marker)
    storage.remove_tree(folder.fs, folder.staging(shard.shard_id))
    return marker
