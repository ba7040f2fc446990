"""The column vocabulary of every table the tool writes, and the Arrow schemas of rows in the scan pipeline.

Every list of column names elsewhere derives from the typed groups below, so a new column is added once.
"""
from __future__ import annotations

import pyarrow as pa

# What scoring adds to a row (`caption` is the text scored; `status` is 'ok' or why the row was not scored).
SCORE_FIELDS = [pa.field("caption", pa.string()), pa.field("score", pa.float64()), pa.field("norm", pa.float64()),
                pa.field("cosine", pa.float64()), pa.field("n_tokens", pa.int64()), pa.field("truncated", pa.bool_()),
                pa.field("status", pa.string())]
# Where a row came from: input file, position in it (or WebDataset key), and its id in the run.
PROVENANCE_FIELDS = [pa.field("source", pa.string()), pa.field("row_index", pa.int64()),
                     pa.field("key", pa.string()), pa.field("row_id", pa.int64())]
# What dataset-wide dedup adds: how many rows of the scan share the row's caption key (a hash of the token ids
# the model sees, after truncation), and the key. Unscorable rows have neither; `--no-dedup` leaves both null.
DEDUP_FIELDS = [pa.field("dup_count", pa.int64()), pa.field("caption_key", pa.string())]
# What the ranking adds.
RANK_FIELDS = [pa.field("rank", pa.int64()), pa.field("percentile", pa.float64()), pa.field("flagged", pa.bool_())]
# Bookkeeping of the pipeline and the readers, never in a report.
INTERNAL_FIELDS = [pa.field("shard_id", pa.string()), pa.field("shard_rows", pa.int64()),
                   pa.field("read_status", pa.string()),
                   pa.field("seconds", pa.float64())]  # a row's share of its batch's time in the scoring stage


def names(fields: list[pa.Field]) -> list[str]:
    return [f.name for f in fields]


SCORE_COLUMNS = names(SCORE_FIELDS)
# Report columns in the order a report shows them; passthrough input columns follow.
REPORT_LEAD = ["rank", "row_id", *SCORE_COLUMNS, "dup_count", "percentile", "flagged", "source", "row_index", "key",
               "caption_key"]
# Input columns with these names are kept as input_<name>, so they never clash with ours. `key` is not
# among them: an img2dataset Parquet `key` is the sample key the report shows for WebDataset rows too.
RESERVED = frozenset(names(SCORE_FIELDS + DEDUP_FIELDS + PROVENANCE_FIELDS + RANK_FIELDS + INTERNAL_FIELDS)) - {"key"}
# Columns of the flagged table shown in report.html and by `top`, then any URL column an input has.
SHOWN = ["rank", "row_id", "caption", "score", "norm", "cosine", "dup_count", "source", "row_index", "key"]
URL_COLUMNS = ("url", "URL")
# Schema metadata key under which every report stores the run's parameters (JSON).
METADATA_KEY = b"audit"


def input_names(columns: list[str], reserved: frozenset[str] = RESERVED) -> list[str]:
    """The report names of an input's passthrough columns: a reserved name gets `input_` prefixes until it
    clashes with no other column (`row_id` beside `input_row_id` becomes `input_input_row_id`)."""
    taken = set(columns)
    names = []
    for column in columns:
        name = column
        while name in reserved or (name != column and name in taken):
            name = f"input_{name}"
        taken.add(name)
        names.append(name)
    return names


def schema_of(*columns: str) -> pa.Schema:
    """The schema of our columns `columns`, in that order."""
    fields = {f.name: f for f in SCORE_FIELDS + DEDUP_FIELDS + PROVENANCE_FIELDS + RANK_FIELDS + INTERNAL_FIELDS}
    return pa.schema([fields[c] for c in columns])


# read -> score: one row per input row, tagged with its shard and position.
READ = schema_of("shard_id", "row_index", "shard_rows", "caption", "read_status")
# score -> write: the reader's columns (less read_status), the stage's score columns, and each row's share of
# its batch's time in the scoring stage (model time, apart from Ray's start-up and scheduling).
# Each row also names the actor call that scored it (cluster.usage.CALL_COLUMNS: actor, node, start, end).
CALL = pa.schema([("actor", pa.string()), ("node", pa.string()), ("start", pa.float64()), ("end", pa.float64())])
SCORED = pa.unify_schemas([schema_of("shard_id", "row_index", "shard_rows", *SCORE_COLUMNS, "seconds"), CALL])
# write -> driver: one record per part file written (the rows of one shard scored by one actor call).
PART = pa.unify_schemas([pa.schema([("shard_id", pa.string()), ("part", pa.string()), ("rows", pa.int64()),
                                    ("shard_rows", pa.int64()), ("seconds", pa.float64())]), CALL])
# A finished shard's score file, before ranking adds row_id: provenance, then score and dedup columns.
SHARD_BASE = schema_of("source", "row_index", *SCORE_COLUMNS, *names(DEDUP_FIELDS), "row_id")
# Dedup: distinct caption keys with their rows' count and one caption of theirs (what is scored for them) ...
KEY_COUNTS = schema_of("caption_key", "dup_count", "caption")
# ... and a scored key's numbers, reused by every row with that key.
KEY_SCORES = schema_of("caption_key", "norm", "cosine", "score", "seconds")


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
