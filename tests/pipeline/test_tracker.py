"""The driver's shard bookkeeping: a shard is finalized once its parts cover its rows; a failed finalize fails it alone."""
from __future__ import annotations

import pyarrow as pa

from audit import schemas
from audit.cluster.usage import PoolUsage
from audit.pipeline.rows_on_host import finalized
from audit.pipeline.tracker import ShardTracker
from audit.readers.inputs import Shard
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder


def test_each_shard_finalized_when_its_rows_are_in_and_a_failed_one_alone(tmp_path):
    out = str(tmp_path / "run")
    folder = RunFolder.at(out)
    good, bad = (Shard(f"{name}.txt", "text", name, str(tmp_path / f"{name}.txt"), rows=2) for name in ("good", "bad"))
    rows = [{"shard_id": "good", "row_index": i, "shard_rows": 2, "caption": f"c{i}", "status": "empty"} for i in range(2)]
    table = pa.Table.from_pylist(rows, schema=schemas.SCORED).drop_columns(schemas.CALL.names)  # the part of `good`
    storage.write_table(folder.fs, folder.staging("good", "parts", "000000000000-000000000001.parquet"), table)
    storage.write_table(folder.fs, folder.staging("good", "input.parquet"), pa.table({"row_index": [0, 1]}))
    tracker = ShardTracker([good, bad], lambda shard, n: finalized(out, shard, n), PoolUsage())
    call = {"seconds": 0.0, "actor": "driver", "node": "driver", "start": 0.0, "end": 0.0}
    tracker.add(shard_id="good", part="p0", rows=2, shard_rows=2, **call)
    tracker.add(shard_id="bad", part="p0", rows=1, shard_rows=2, **call)  # half its rows: not finalized
    assert folder.exists("done/good.json") and tracker.finished == {"good"}
    tracker.add(shard_id="bad", part="p1", rows=1, shard_rows=2, **call)  # its rows in, but no part file holds them
    failures = tracker.close()
    assert list(failures) == ["bad"] and failures["bad"].startswith("finalizing failed: ")
    assert storage.read_json(folder.fs, folder.done("good"))["rows"] == 2
