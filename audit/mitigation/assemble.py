"""mitigations.parquet from the batch files, one file at a time through a ParquetWriter (rank order)."""
from __future__ import annotations

import uuid

import pyarrow.compute as pc
import pyarrow.parquet as pq

from audit.mitigation.results import RESULT_SCHEMA
from audit.runfolder.folder import RunFolder

COUNTED = ("rewrite_converged", "embedding_converged")


def assemble(folder: RunFolder, files: list[str]) -> dict:
    """Concatenate `files` (in rank order) into mitigations.parquet, written atomically; counts of the results."""
    fs, final = folder.fs, folder.path("mitigations.parquet")
    tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
    counts = {"rows": 0, "ok": 0} | {c: 0 for c in COUNTED}
    with fs.open_output_stream(tmp) as sink, pq.ParquetWriter(sink, RESULT_SCHEMA) as writer:
        for path in files:
            table = pq.read_table(path, filesystem=fs, schema=RESULT_SCHEMA)
            writer.write_table(table)
            counts["rows"] += table.num_rows
            counts["ok"] += int(pc.sum(pc.equal(table["status"], "ok")).as_py() or 0)
            for column in COUNTED:
                counts[column] += int(pc.sum(pc.fill_null(table[column], False)).as_py() or 0)
    fs.move(tmp, final)
    return counts
