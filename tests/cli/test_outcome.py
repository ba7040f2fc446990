"""The final block of `scan`: where the report is, on any store, and what the dedup line counts."""
from __future__ import annotations

from audit.cli.outcome import final_block

SUMMARY = {"rows_read": 3, "rows_scored": 3, "rows_not_scored": {}, "flagged": 0,
           "flagging": {"threshold": None, "top_k": None, "chosen_by": "none"}, "timing": {},
           "dedup": {"distinct_keys": 2, "keyed_rows": 3, "duplicate_rows": 1, "scoring_saved": 1 / 3,
                     "keys_scored_this_run": 2}}


def test_final_block_keeps_a_uri_query_at_the_end_and_counts_caption_keys():
    lines = final_block(SUMMARY, "s3://bucket/run?endpoint_override=localhost:9000", None, 0, "complete")
    assert lines[-2].startswith("folder:   s3://bucket/run/?endpoint_override=localhost:9000 (report/ ranked")
    assert lines[-1] == "report:   s3://bucket/run/report.html?endpoint_override=localhost:9000"
    assert lines[1].startswith("dedup:    2 distinct caption keys among 3 scorable rows, 1 duplicates")
    assert final_block(SUMMARY, "/data/run/", None, 0, "complete")[-1] == "report:   /data/run/report.html"
