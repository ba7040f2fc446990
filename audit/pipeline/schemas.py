"""Arrow schemas of the rows flowing through the scan pipeline."""
from __future__ import annotations

import pyarrow as pa

# read -> score: one row per input row, tagged with its shard and position.
READ = pa.schema([("shard_id", pa.string()), ("row_index", pa.int64()), ("shard_rows", pa.int64()),
                  ("caption", pa.string()), ("read_status", pa.string())])

# score -> write: the reader's columns (less read_status), the stage's score columns, and each row's share
# of its batch's time in the scoring stage (model time, apart from Ray's start-up and scheduling).
SCORED = pa.schema([("shard_id", pa.string()), ("row_index", pa.int64()), ("shard_rows", pa.int64()),
                    ("caption", pa.string()), ("score", pa.float64()), ("norm", pa.float64()),
                    ("cosine", pa.float64()), ("n_tokens", pa.int64()), ("truncated", pa.bool_()),
                    ("status", pa.string()), ("seconds", pa.float64())])

# write -> driver: one record per part file written.
PART = pa.schema([("shard_id", pa.string()), ("part", pa.string()), ("rows", pa.int64()),
                  ("shard_rows", pa.int64()), ("seconds", pa.float64())])
