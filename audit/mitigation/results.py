"""The columns of mitigations.parquet, one fixed schema for every batch file (failed rows leave results null)."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa

from audit.schemas import with_pandas_types

TRIGGER = pa.struct([("token", pa.string()), ("contribution", pa.float64())])
RESULT_SCHEMA = with_pandas_types(pa.schema([
    ("rank", pa.int64()), ("row_id", pa.int64()), ("caption", pa.string()), ("original_score", pa.float64()),
    ("trigger_tokens", pa.list_(TRIGGER)), ("suggested_caption", pa.string()), ("suggested_score", pa.float64()),
    ("edits", pa.int64()), ("rewrite_converged", pa.bool_()), ("embedding_file", pa.string()),
    ("embedding_score", pa.float64()), ("embedding_steps", pa.int64()), ("embedding_converged", pa.bool_()),
    ("seconds_triggers", pa.float64()), ("seconds_rewrite", pa.float64()), ("seconds_embedding", pa.float64()),
    ("status", pa.string()),
    ("same_as", pa.int64()),  # row_id of the row with the same caption whose mitigation this row copies; null: its own
]), keep=("rank", "row_id"))  # pandas reads same_as, edits, steps as nullable Int64, the verdicts as boolean
SECONDS = ("seconds_triggers", "seconds_rewrite", "seconds_embedding")  # a copy costs none


def to_table(results: pd.DataFrame) -> pa.Table:
    """Result rows as a table of RESULT_SCHEMA, in rank order."""
    rows = results.sort_values("rank", kind="stable").to_dict("records")
    rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows]  # NaN -> null
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
