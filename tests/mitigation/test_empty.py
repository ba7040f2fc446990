"""A run with nothing flagged: mitigation writes an empty result and says so in the summary, without Ray."""
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit.mitigation.pool import MitigationOptions, run_mitigation
from audit.mitigation.results import RESULT_SCHEMA


def test_empty_flagged_set(tmp_path, tiny_eps):
    params = {"model": str(tiny_eps), "generations": 1, "seed": 51, "authors_sd2": False, "dtype": "float32",
              "w_norm": 1.0, "w_cos": 2.0, "threshold": None}
    (tmp_path / "summary.json").write_text(json.dumps({"score_parameters": params, "flagging": {"threshold": 9.0}}))
    (tmp_path / "run.json").write_text(json.dumps(params))
    (tmp_path / "report").mkdir()
    pq.write_table(pa.table({"rank": [1, 2], "row_id": [0, 1], "caption": ["a", "b"], "score": [0.2, 0.1]}),
                   tmp_path / "report" / "part-000000.parquet")
    pq.write_table(pa.table({"rank": pa.array([], pa.int64()), "row_id": pa.array([], pa.int64()),
                             "caption": pa.array([], pa.string()), "score": pa.array([], pa.float64())}),
                   tmp_path / "flagged.parquet")
    counts = run_mitigation(MitigationOptions(run_dir=str(tmp_path), device="cpu"))
    written = pq.read_table(tmp_path / "mitigations.parquet")
    assert written.num_rows == 0 and written.schema.equals(RESULT_SCHEMA)
    summary = json.loads((tmp_path / "summary.json").read_text())["mitigation"]
    assert summary == counts
    assert (summary["flagged"], summary["ok"], summary["failed"], summary["threshold"]) == (0, 0, 0, 9.0)
    # the profile has no clean median: the target falls back under the threshold, never above it
    assert summary["target"] < 9.0 and summary["target_source"].startswith("threshold minus")
    assert pd.read_parquet(tmp_path / "mitigations.parquet").empty
