"""Write a report frame to Parquet with the run's parameters in the schema metadata."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit.schemas import METADATA_KEY, REPORT_LEAD


def order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Report columns first, passthrough input columns after them."""
    lead = [c for c in REPORT_LEAD if c in frame]
    return frame[lead + [c for c in frame.columns if c not in lead]]


def write_parquet_report(frame: pd.DataFrame, path: str | Path, metadata: dict) -> None:
    """Write `frame` to `path`, storing `metadata` as JSON under the schema key b'audit'."""
    table = pa.Table.from_pandas(order_columns(frame), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(metadata, default=str).encode()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(meta), path)


def read_metadata(path: str | Path) -> dict:
    """The run parameters stored by `write_parquet_report`."""
    return json.loads(pq.read_schema(path).metadata[METADATA_KEY])
