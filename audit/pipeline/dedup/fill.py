"""Dedup, phase 3: give every keyed row its key's numbers and dup_count (Ray Data joins on the key, then a
groupby on the unit), rewrite each unit's score file and write its done marker, tagged with the key counts'
generation: when any unit of the scan changes, every unit's dup_count is filled again (no rescoring)."""
from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
import ray.data

from audit.pipeline.dedup.distinct import partitions, read_columns
from audit.pipeline.parts import done_marker
from audit.pipeline.tracker import Progress, ProgressFn
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder

FILLED = ("norm", "cosine", "score", "dup_count")


def generation(keyed: dict[str, dict]) -> str:
    """What the key counts are counted over: each keyed unit's id, input identity and rows."""
    units = sorted((sid, m.get("input"), m["rows"]) for sid, m in keyed.items())
    return hashlib.sha256(json.dumps(units, default=str).encode()).hexdigest()[:16]


def _with_unit(batch: pa.Table) -> pa.Table:
    """Keyed rows only, tagged with their unit id (from the score file's name) instead of the path."""
    batch = batch.filter(pc.is_valid(batch["caption_key"]))
    names = pc.replace_substring_regex(batch["path"].cast(pa.string()), pattern=r"^.*/|\.parquet$", replacement="")
    return batch.drop_columns(["path"]).append_column("shard_id", names)


def _filled_column(table: pa.Table, keyed: np.ndarray, values: pa.ChunkedArray) -> pa.Array:
    """A column of `table`'s length: `values` at the keyed rows (in row order), null elsewhere."""
    if not keyed.any():
        return pa.nulls(len(keyed), values.type)
    positions = np.cumsum(keyed) - 1
    taken = values.combine_chunks().take(pa.array(np.where(keyed, positions, 0)))
    return pc.if_else(pa.array(keyed), taken, pa.nulls(len(keyed), values.type))


def fill_unit(numbers: pa.Table, output: str, shard_id: str, generation_id: str) -> int:
    """Write a unit's numbers (`numbers`: row_index and FILLED columns of its keyed rows) into its score file and
    write its done marker; return its rows. A unit some of whose keyed rows have no numbers fails (failed/)."""
    try:
        return _fill(numbers, RunFolder.at(output), shard_id, generation_id)
    except Exception as err:  # one unit's failure must not stop the others
        folder = RunFolder.at(output)
        storage.write_json(folder.fs, folder.failed(shard_id), {"source": shard_id, "reason": f"filling: {err}"})
        return 0


def _fill(numbers: pa.Table, folder: RunFolder, shard_id: str, generation_id: str) -> int:
    keyed_marker = storage.read_json(folder.fs, folder.keyed(shard_id))
    table = storage.read_table(folder.fs, folder.scores(shard_id))
    numbers = numbers.sort_by("row_index")
    index = numbers["row_index"].to_numpy()
    numbers = numbers.filter(pa.array(np.r_[True, np.diff(index) != 0] if len(index) else [], pa.bool_()))
    keyed = table["caption_key"].is_valid().to_numpy(zero_copy_only=False)
    expected = table["row_index"].to_numpy()[keyed]
    if not np.array_equal(numbers["row_index"].to_numpy(), expected):
        raise RuntimeError(f"shard {shard_id}: {len(expected) - numbers.num_rows} keyed rows have no key scores")
    for name in FILLED:
        column = _filled_column(table, keyed, numbers[name].cast(table.schema.field(name).type))
        table = table.set_column(table.schema.get_field_index(name), name, column)
    storage.write_table(folder.fs, folder.scores(shard_id), table)
    marker = done_marker(keyed_marker["source"], keyed_marker["input"], keyed_marker["first_row"], table)
    storage.write_json(folder.fs, folder.done(shard_id), marker | {"generation": generation_id})
    return table.num_rows


def _fill_group(group: pa.Table, output: str, generation_id: str) -> pa.Table:
    shard_id = group["shard_id"][0].as_py()
    rows = fill_unit(group.drop_columns(["shard_id", "caption_key"]), output, shard_id, generation_id)
    return pa.table({"shard_id": [shard_id], "rows": [rows]})


def fill_units(folder: RunFolder, shard_ids: list[str], counts: ray.data.Dataset | None, generation_id: str,
               rows: int, progress: ProgressFn | None) -> None:
    """Fill every unit of `shard_ids` (`rows` rows in all) from key_scores/ and `counts` (None: no row of the
    scan has a key)."""
    start, done, seen = time.monotonic(), 0, set()
    if counts is not None:
        for batch in _joined(folder, shard_ids, counts, generation_id, rows).iter_batches(batch_format="pyarrow",
                                                                                          batch_size=None):
            seen.update(batch["shard_id"].to_pylist())
            done += int(pc.sum(batch["rows"]).as_py() or 0)
            if progress is not None:
                progress(Progress(done, rows, time.monotonic() - start, 0.0, units_done=len(seen),
                                  units=len(shard_ids), stage="joining"))
    empty = pa.table({"row_index": pa.array([], pa.int64()), **{n: pa.array([], pa.float64()) for n in FILLED}})
    fill = ray.remote(fill_unit)
    ray.get([fill.remote(empty, folder.address, s, generation_id) for s in shard_ids if s not in seen])
    if progress is not None:
        progress(Progress(rows, rows, time.monotonic() - start, 0.0, final=True, units_done=len(shard_ids),
                          units=len(shard_ids), stage="joining"))


def _joined(folder: RunFolder, shard_ids: list[str], counts: ray.data.Dataset, generation_id: str,
            rows: int) -> ray.data.Dataset:
    """Keyed rows joined with their key's numbers and count, grouped by unit into `_fill_group`."""
    scores = read_columns(folder, storage.list_files(folder.fs, folder.path("key_scores"), ".parquet"),
                          ["caption_key", "norm", "cosine", "score"])
    key_table = counts.select_columns(["caption_key", "dup_count"]).join(
        scores, join_type="inner", num_partitions=partitions(counts.count()), on=("caption_key",))
    units = read_columns(folder, [folder.scores(s) for s in shard_ids], ["row_index", "caption_key"], paths=True)
    units = units.map_batches(_with_unit, batch_format="pyarrow", batch_size=None)
    joined = units.join(key_table, join_type="inner", num_partitions=partitions(rows), on=("caption_key",))
    return joined.groupby("shard_id", num_partitions=partitions(rows)).map_groups(
        _fill_group, batch_format="pyarrow", fn_kwargs={"output": folder.address, "generation_id": generation_id})
