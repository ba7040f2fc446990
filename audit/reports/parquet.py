"""Write a report frame to Parquet with the run's parameters in the schema metadata."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"audit"
LEADING = ["rank", "row_id", "caption", "score", "norm", "cosine", "n_tokens", "truncated", "status"]


def order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Report columns first, passthrough input columns after them."""
    lead = [c for c in LEADING if c in frame]
    return frame[lead + [c for c in frame.columns if c not in lead]]


def write_report(frame: pd.DataFrame, path: str | Path, metadata: dict) -> None:
    """Write `frame` to `path`, storing `metadata` as JSON under the schema key b'audit'."""
    table = pa.Table.from_pandas(order_columns(frame), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(metadata, default=str).encode()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(meta), path)


def _nullable(arrow_type: pa.DataType) -> str:
    """The pandas nullable dtype of an Arrow integer or boolean type: int32 -> Int32, uint8 -> UInt8,
    bool -> boolean."""
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    return str(arrow_type).replace("uint", "UInt").replace("int", "Int")


def with_pandas_types(schema: pa.Schema, keep: tuple[str, ...] = ("row_id", "flagged")) -> pa.Schema:
    """`schema` plus pandas metadata so `pd.read_parquet` gives nullable Int64/boolean columns, not float64/object.

    Integer and boolean columns may hold nulls (rank, n_tokens and truncated of unscored rows, passthrough
    columns missing in some shards); the columns in `keep` never do and stay plain int64/bool.
    """
    nullable = {f.name: _nullable(f.type) for f in schema if f.name not in keep
                and (pa.types.is_integer(f.type) or pa.types.is_boolean(f.type))}
    frame = schema.empty_table().to_pandas().astype(nullable)
    pandas = pa.Schema.from_pandas(frame, preserve_index=False).metadata[b"pandas"]
    return schema.with_metadata({**(schema.metadata or {}), b"pandas": pandas})


def read_metadata(path: str | Path) -> dict:
    """The run parameters stored by `write_report`."""
    return json.loads(pq.read_schema(path).metadata[METADATA_KEY])
