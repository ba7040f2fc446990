"""Batch files tied to the scan they came from: another scan or other settings make them stale."""
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit.mitigation.batches import BatchStore, plan, scan_hash
from audit.runfolder.folder import RunFolder


def write_scan(root, captions, run=None):
    root.mkdir(exist_ok=True)
    (root / "run.json").write_text(json.dumps(run or {"model": "m", "seed": 51}))
    n = len(captions)
    pq.write_table(pa.table({"rank": list(range(1, n + 1)), "row_id": [10 * i for i in range(n)],
                             "caption": captions, "score": [float(n - i) for i in range(n)]}),
                   root / "flagged.parquet")
    return RunFolder.at(str(root))


def test_scan_hash_follows_run_json_and_the_flagged_rows(tmp_path):
    base = scan_hash(write_scan(tmp_path / "a", ["x y", "z"]))
    assert base == scan_hash(write_scan(tmp_path / "b", ["x y", "z"]))
    assert base != scan_hash(write_scan(tmp_path / "c", ["x y", "w"]))
    assert base != scan_hash(write_scan(tmp_path / "d", ["x y", "z"], {"model": "m", "seed": 52}))


def test_stale_batches_and_their_embeddings_are_discarded(tmp_path):
    folder = write_scan(tmp_path / "run", ["x y", "z"])
    old = BatchStore(folder, scan_hash(folder), {"max_steps": 50})
    assert old.discard_stale() == []
    pq.write_table(pa.table({"rank": [1]}), old.path(0))
    (tmp_path / "run/embeddings").mkdir()
    (tmp_path / "run/embeddings/0.safetensors").write_bytes(b"x")
    same = BatchStore(folder, scan_hash(folder), {"max_steps": 50})
    assert same.discard_stale() == [] and same.done() == {0}  # a rerun keeps its finished batches
    assert (tmp_path / "run/embeddings/0.safetensors").exists()
    other = BatchStore(folder, scan_hash(folder), {"max_steps": 60})
    assert other.discard_stale() == [old.key] and other.done() == set()
    assert not (tmp_path / "run/embeddings").exists() and not (tmp_path / "run/mitigation" / old.key).exists()
    assert json.loads((tmp_path / "run/mitigation" / other.key / "identity.json").read_text())["settings"] == {"max_steps": 60}


def test_plan_mitigates_each_distinct_caption_once_in_rank_order(tmp_path):
    folder = write_scan(tmp_path / "run", ["a", "b", "a", "c", "b", "a", "d"])
    rows = plan(folder, batch_size=2)
    assert rows["rank"].tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert rows["same_as"].tolist() == [pd.NA, pd.NA, 0, pd.NA, 10, 0, pd.NA]  # row_ids of the first copies
    assert rows["batch"].tolist() == [0, 0, 0, 1, 0, 0, 1]  # a, b | c, d: copies go with their first row
