"""The notebook API: load a model, score a list of captions, run a scan, open the run folder's report."""
from __future__ import annotations

import pandas as pd
import pytest

from audit import api


def test_score_captions_ranks_a_list_and_keeps_unscorable_values(tiny_eps):
    stage = api.load_model(str(tiny_eps), device="cpu", batch_size=4)
    ranked = api.score_captions(["a red cat", None, "a blue dog", "  ", "a red cat"], stage)
    assert isinstance(ranked, pd.DataFrame) and sorted(ranked["row_id"]) == [0, 1, 2, 3, 4]
    by_row = ranked.set_index("row_id")
    assert by_row.loc[[1, 3], "status"].tolist() == ["null", "empty"] and by_row.loc[[1, 3], "rank"].isna().all()
    assert by_row.loc[0, "score"] == by_row.loc[4, "score"]
    assert ranked["rank"].dropna().tolist() == [1, 2, 3] and ranked["score"].dropna().is_monotonic_decreasing


@pytest.mark.slow
def test_scan_then_open_the_run(tiny_eps, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    (tmp_path / "captions.txt").write_text("a red cat\n\na blue dog\na green kite\n")
    stage = api.load_model(str(tiny_eps), device="cpu")
    summary = api.scan([str(tmp_path / "captions.txt")], str(tmp_path / "run"), stage, top_k=2)
    assert summary["rows_read"] == 4 and summary["flagged"] == 2
    run = api.open_run(str(tmp_path / "run"))
    report, flagged = run.report(), run.flagged()
    assert len(report) == 4 and report["rank"].dtype == "Int64" and report["flagged"].dtype == "boolean"
    assert flagged["rank"].tolist() == [1, 2] and flagged["caption"].tolist() == report["caption"].head(2).tolist()
    with pytest.raises(ValueError, match="not a finished scan folder"):
        api.open_run(str(tmp_path / "nothing"))
