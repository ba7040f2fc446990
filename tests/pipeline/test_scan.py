"""End-to-end `scan` runs on a local Ray: row accounting, ranking, failed shards, rerun and parameter checks."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from builders import caption

from audit.cli.main import main


def scan(model, inputs, out, *extra) -> int:
    return main(["scan", *map(str, inputs), "--output", str(out), "--model", str(model), "--batch-size", "8", *map(str, extra)])


def summary_of(out) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def mixed_run(local_ray, tiny_eps, shards, tmp_path_factory):
    """One scan over good shards (Parquet with bad rows, a tar with bad members) and two broken files."""
    broken = tmp_path_factory.mktemp("broken")
    (broken / "garbage.parquet").write_bytes(b"PAR1 this is not parquet")
    (broken / "cut.tar").write_bytes((shards / "images-00000.tar").read_bytes()[:3000])
    out = tmp_path_factory.mktemp("mixed") / "out"
    code = scan(tiny_eps, [shards, broken / "garbage.parquet", broken / "cut.tar"], out,
                "--rows-per-file", "40", "--top-k", "10")
    return code, out, broken


def test_every_row_once_with_status_and_global_rank(mixed_run, shards):
    _, out, _ = mixed_run
    report = pd.read_parquet(out / "report")
    assert len(report) == 3 * 50 + 20 + 3 + 2
    assert sorted(report["row_id"]) == list(range(175))
    per_source = report.groupby("source")["row_index"].apply(sorted).to_dict()
    assert per_source == {str(shards / f"part-{k:05d}.parquet"): list(range(50)) for k in range(3)} | \
        {str(shards / "images-00000.tar"): list(range(20)), str(shards / "extra.jsonl"): list(range(3)),
         str(shards / "numbers.parquet"): [0, 1]}
    assert len(list((out / "report").glob("*.parquet"))) > 1
    scored = report[report["status"] == "ok"]
    assert scored["rank"].tolist() == list(range(1, len(scored) + 1))
    assert np.all(np.diff(scored["score"].to_numpy()) <= 0)
    assert report["rank"].iloc[len(scored):].isna().all() and report["score"].iloc[len(scored):].isna().all()
    counts = report["status"].value_counts().to_dict()
    assert counts == {"ok": 3 * 47 + 18 + 2, "null": 3 + 1, "empty": 6, "invalid_utf8": 1, "missing_caption": 1,
                      "invalid_json": 1, "not_string": 1}
    tar_rows = report[report["source"].str.endswith(".tar")].set_index("key")
    assert tar_rows.loc["000001001", "status"] == "invalid_utf8" and tar_rows.loc["000001000", "url"] == "u1000"
    assert report.loc[report["caption"] == "a blue kite", "url"].tolist() == ["18"]
    laion = report[report["source"].str.endswith("part-00001.parquet")].set_index("row_index")
    assert laion.loc[7, "SAMPLE_ID"] == 57 and laion.loc[7, "URL"] == "https://x.test/57.jpg"
    assert laion.loc[7, "caption"] == caption(57) and laion.loc[1, "status"] == "null"
    flagged = pd.read_parquet(out / "flagged.parquet")
    assert flagged["rank"].tolist() == list(range(1, 11)) and report["flagged"].sum() == 10
    summary = summary_of(out)
    assert summary["rows_read"] == 175 and summary["rows_scored"] == len(scored)
    assert summary["rows_not_scored"] == {k: v for k, v in counts.items() if k != "ok"}
    assert summary["flagged"] == 10 and summary["score_parameters"]["seed"] == 51


def test_bad_file_fails_only_its_shard(mixed_run):
    code, out, broken = mixed_run
    assert code == 3
    summary = summary_of(out)
    failed = {f["source"]: f["reason"] for f in summary["shards"]["failed"]}
    assert set(failed) == {str(broken / n) for n in ("garbage.parquet", "cut.tar")}
    assert failed[str(broken / "cut.tar")].startswith("corrupt tar file")
    assert "Parquet magic bytes not found" in failed[str(broken / "garbage.parquet")]
    assert not summary["complete"] and summary["shards"]["finished"] == 7 and summary["shards"]["total"] == 9


def test_rerun_skips_finished_shards_and_refuses_other_parameters(mixed_run, tiny_eps, shards, tmp_path, capsys):
    out, profile = tmp_path / "out", tmp_path / "profile.json"
    shutil.copytree(mixed_run[1], out)
    first = pd.read_parquet(out / "report")
    profile.write_text(json.dumps({"name": "calibrated", "w_norm": 1.0, "w_cos": 2.0, "threshold": 0.5}))
    scores_mtime = {p.name: p.stat().st_mtime_ns for p in (out / "scores").iterdir()}
    assert scan(tiny_eps, [shards], out, "--rows-per-file", "40", "--profile", profile) == 0
    summary = summary_of(out)
    assert summary["shards"]["resumed"] == 7 and summary["timing"]["rows_this_run"] == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "scores").iterdir()} == scores_mtime
    again = pd.read_parquet(out / "report")
    pd.testing.assert_frame_equal(again.drop(columns="flagged"), first.drop(columns="flagged"))
    assert again["flagged"].tolist() == (again["score"] > 0.5).tolist() and again["flagged"].any()
    assert summary["flagging"] == {"threshold": 0.5, "top_k": None, "chosen_by": "threshold of the score profile"}
    capsys.readouterr()
    assert scan(tiny_eps, [shards], out, "--seed", "52") == 2
    assert "other score parameters (seed 51 -> 52)" in capsys.readouterr().err


def test_same_caption_same_score_whichever_actor_or_batch(local_ray, tiny_eps, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from audit.scoring.engine import ScoreConfig
    from audit.scoring.stage import ScoreStage

    captions = [f"a {w} lighthouse at dusk, take {i}" for i, w in enumerate(["calm", "stormy", "foggy"] * 4)]
    rng = np.random.default_rng(0)
    for k in range(4):  # every shard holds all captions, in its own order, between fillers
        rows = [*captions, *(f"filler {k} {i}" for i in range(9))]
        pq.write_table(pa.table({"caption": [rows[i] for i in rng.permutation(len(rows))]}),
                       tmp_path / f"dup-{k}.parquet")
    out = tmp_path / "out"
    assert main(["scan", str(tmp_path / "dup-*.parquet"), "-o", str(out), "--model", str(tiny_eps),
                 "--batch-size", "5", "--actors", "2"]) == 0
    report = pd.read_parquet(out / "report")
    per_caption = report[report["caption"].isin(captions)].groupby("caption")["score"]
    assert (per_caption.count() == 4).all() and (per_caption.max() - per_caption.min()).max() <= 1e-6
    torch.set_num_threads(1)
    stage = ScoreStage(model=str(tiny_eps), device="cpu", config=ScoreConfig(batch_size=32))
    stage.setup()
    local = stage.process(pd.DataFrame({"caption": captions})).set_index("caption")["score"]
    np.testing.assert_allclose(per_caption.mean()[captions], local[captions], rtol=1e-5, atol=1e-6)
