"""Batch files tied to the scan they came from: another scan or other settings make them stale."""
import json

import pyarrow as pa
import pyarrow.parquet as pq

from audit.mitigation.batches import BatchStore, scan_hash
from audit.runfolder.folder import RunFolder


def write_scan(root, captions, run=None):
    root.mkdir(exist_ok=True)
    (root / "run.json").write_text(json.dumps(run or {"model": "m", "seed": 51}))
    pq.write_table(pa.table({"rank": list(range(1, len(captions) + 1)), "row_id": list(range(len(captions))),
                             "caption": captions}), root / "flagged.parquet")
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
