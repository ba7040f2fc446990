"""The distributed ranking of `scan` and the in-process ranking of `score` order the same rows identically."""
from __future__ import annotations

import pandas as pd
import pytest

from audit.cli.main import main
from audit.ranking.in_memory import rank_frame


# in Ray tasks: a scan over --small-scan-rows ranks on Ray; --no-dedup scores it in one Ray Data pass (no keying steps)
@pytest.mark.parametrize("where", [[], ["--small-scan-rows", "0", "--no-dedup"]], ids=["in the driver", "in Ray tasks"])
def test_scan_and_score_rankings_agree_with_ties_and_unscored_rows(local_ray, tiny_eps, tmp_path, where):
    words = ["a red ball", "green", "a red ball", "", "two blue kites", "green", "   ", "a red ball", "cat"]
    for k in range(3):  # the same captions in every shard: each score is tied three times or more
        (tmp_path / f"part-{k}.txt").write_text("\n".join(words[k:] + words[:k]) + "\n")
    out = tmp_path / "run"
    assert main(["scan", str(tmp_path / "part-*.txt"), "-o", str(out), "--model", str(tiny_eps), "--top-k", "5",
                 "--rows-per-file", "4", *where]) == 0  # small report files: ties and buckets meet at their edges
    assert len(list((out / "report").glob("*.parquet"))) > 3
    scan = pd.read_parquet(out / "report")
    shuffled = scan[["row_id", "caption", "score", "norm", "cosine", "status"]].sample(frac=1, random_state=0)
    in_process = rank_frame(shuffled)
    assert scan["score"].duplicated().sum() >= 10
    assert in_process["row_id"].tolist() == scan["row_id"].tolist()
    assert in_process["rank"].astype("float").fillna(-1).tolist() == scan["rank"].fillna(-1).tolist()
