"""Dedup, phase 1: read each unit, key its captions, and store its rows in scores/ with the numbers still missing.

One Ray task per unit; the tokenizers are loaded once per worker process and remember frequent captions.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from audit import schemas
from audit.pipeline.read_stage import failure_reason, unit_chunks
from audit.readers.inputs import Shard
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder

if TYPE_CHECKING:
    from audit.scoring.keys import KeyStage

_STAGES: dict = {}  # model -> KeyStage


def key_stage(model: str | None) -> "KeyStage":
    """This worker's key stage for `model` (`scoring.keys.KeyStage`), set up on first use; the tokenizers'
    libraries are imported then, not by a driver that never keys."""
    from audit.scoring.keys import KeyStage

    if model not in _STAGES:
        stage = KeyStage(model)
        stage.setup()
        _STAGES[model] = stage
    return _STAGES[model]


def unit_table(source: str, read: pa.Table, keyed: pd.DataFrame, passthrough: pa.Table) -> pa.Table:
    """A unit's rows in the layout of a finished shard (provenance, score and dedup columns, passthrough), with
    score, norm, cosine and dup_count null until the fill phase."""
    n = read.num_rows
    columns = {"source": pa.array([source] * n, pa.string()), "row_index": read["row_index"]}
    for field in schemas.SCORE_FIELDS + schemas.DEDUP_FIELDS:
        values = keyed[field.name] if field.name in keyed else None
        columns[field.name] = pa.nulls(n, field.type) if values is None else pa.array(values, field.type)
    columns |= {name: passthrough[name] for name in passthrough.column_names if name != "row_index"}
    return pa.table(columns)


def key_unit(folder: RunFolder, shard: Shard, stage: KeyStage, caption_column: str | None,
             caption_field: str | None) -> int:
    """Read, key and store one unit; write its keyed marker; return its rows."""
    passthrough: list[pa.Table] = []
    chunks = list(unit_chunks(shard, caption_column, caption_field, passthrough.append))
    read = pa.concat_tables(chunks) if chunks else schemas.READ.empty_table()
    keyed = stage.process(read.select(["caption", "read_status"]).to_pandas())
    table = unit_table(shard.source, read, keyed, passthrough[0])
    storage.write_table(folder.fs, folder.scores(shard.shard_id), table)
    storage.write_json(folder.fs, folder.keyed(shard.shard_id),
                       {"source": shard.source, "input": shard.identity, "first_row": shard.first_row,
                        "rows": table.num_rows, "keyed": table.num_rows - table["caption_key"].null_count})
    return table.num_rows


def key_units(batch: pd.DataFrame, output: str, model: str | None, caption_column: str | None,
              caption_field: str | None) -> pd.DataFrame:
    """For each unit record in `batch`: key it (a unit that cannot be read gets a failed/ record); one row per
    unit with its rows (0 if it failed)."""
    folder, stage, done = RunFolder.at(output), key_stage(model), []
    for record in batch.to_dict("records"):
        shard = Shard.from_record(record)
        try:
            done.append((shard.shard_id, key_unit(folder, shard, stage, caption_column, caption_field)))
        except Exception as err:  # any failure to read one unit fails that unit only
            storage.write_json(folder.fs, folder.failed(shard.shard_id),
                               {"source": shard.source, "reason": storage.redact(failure_reason(err))})
            done.append((shard.shard_id, 0))
    return pd.DataFrame(done, columns=["shard_id", "rows"])
