"""Dataset-wide dedup: each distinct caption key scored once, every row gets its key's numbers and dup_count."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import caption
from transformers import AutoTokenizer

from audit.cli.main import main
from audit.cli.outcome import final_block

LONG = " ".join(f"word{i}" for i in range(90))  # past the 77-token limit


def captions_of_file(k: int) -> list:
    """Duplicates inside and across files, variants the tokenizer erases (case, spaces), captions that differ
    only after the token limit, and unscorable rows."""
    common = [caption(i % 7) for i in range(12)]  # 7 captions repeated across every file
    own = [caption(100 * k + 50 + i) for i in range(6)]  # seen in this file only
    variants = [caption(3).upper(), "  " + caption(4).replace(" ", "   ") + " "]
    long = [f"{LONG} tail {k}", f"{LONG} other ending {k * 7}"]
    return [*common, *own, *variants, *long, None, "", "   "]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dup_inputs")
    for k in range(3):
        texts = captions_of_file(k)
        pq.write_table(pa.table({"TEXT": pa.array(texts, pa.string()), "URL": [f"u{k}-{i}" for i in range(len(texts))]}),
                       folder / f"part-{k}.parquet")
    (folder / "more.txt").write_text("\n".join([caption(0), caption(5).title(), f"{LONG} tail 9", "a new caption"]))
    return folder


def scan(model, out, inputs, *extra) -> dict:
    assert main(["scan", *map(str, inputs), "-o", str(out), "--model", str(model), "--batch-size", "4", *extra]) == 0
    return json.loads((out / "summary.json").read_text())


def report(out) -> pd.DataFrame:
    return pd.read_parquet(out / "report").sort_values(["source", "row_index"], ignore_index=True)


def token_counts(model, frame: pd.DataFrame) -> pd.Series:
    """value_counts of the truncated token sequences of the scorable rows, mapped back onto each row."""
    tok = AutoTokenizer.from_pretrained(model, subfolder="tokenizer")
    seqs = pd.Series([tuple(ids) for ids in tok(frame["caption"].tolist(), truncation=True, max_length=77).input_ids],
                     index=frame.index)
    return seqs.map(seqs.value_counts())


WHERE = {"in the driver": [], "on Ray Data": ["--small-scan-rows", "0"]}  # dedup's keying, counting and joining


@pytest.fixture(scope="module", params=list(WHERE))
def where(request) -> list[str]:
    return WHERE[request.param]


@pytest.fixture(scope="module")
def plain(local_ray, tiny_eps, inputs, tmp_path_factory):
    """A scan of every row (--no-dedup), the reference of both dedup runs."""
    out = tmp_path_factory.mktemp("plain") / "plain"
    scan(tiny_eps, out, sorted(inputs.glob("part-*.parquet")), "--no-dedup", "--top-k", "20")
    return out


@pytest.fixture(scope="module")
def runs(local_ray, tiny_eps, inputs, tmp_path_factory, where, plain):
    """The dedup run's folder and summary, and the plain run's folder."""
    base = tmp_path_factory.mktemp("dedup")
    dedup = scan(tiny_eps, base / "dedup", sorted(inputs.glob("part-*.parquet")), "--top-k", "20", *where)
    assert dedup["dedup"]["steps_in_driver"] == (not where)
    return base, dedup, plain


def test_scores_equal_those_of_every_row_scored(runs):
    base, _, plain = runs
    got, want = report(base / "dedup"), report(plain)
    assert len(got) == len(want) == 3 * 25
    for column in ("score", "norm", "cosine", "n_tokens", "truncated", "status", "rank", "flagged", "caption"):
        assert got[column].equals(want[column]), column
    assert np.array_equal(got["score"].to_numpy(dtype=float), want["score"].to_numpy(dtype=float), equal_nan=True)
    assert want["dup_count"].isna().all() and want["caption_key"].isna().all()


def test_dup_count_is_the_count_of_truncated_token_sequences(runs, tiny_eps):
    base, summary, _ = runs
    rows = report(base / "dedup")
    ok = rows[rows["status"] == "ok"]
    assert ok["dup_count"].tolist() == token_counts(tiny_eps, ok).tolist()
    assert ok.loc[ok["caption"] == caption(3), "dup_count"].iloc[0] == 3 * 2 + 3  # 2 per file, plus the upper-case
    assert ok.loc[ok["caption"].str.startswith(LONG), "dup_count"].eq(6).all()  # endings past the limit
    assert ok.groupby("caption_key")["score"].nunique().eq(1).all()
    assert ok.groupby("caption_key")["dup_count"].first().sum() == len(ok)
    distinct = ok["caption_key"].nunique()
    in_driver = summary["pool"].get("in_driver", False)  # a small scan on a Ray without GPUs: no actor, no Ray
    assert in_driver == summary["dedup"]["steps_in_driver"]
    assert list(summary["timing"]["phases"]) == ["start-up", "keying", "counting", "scoring", "joining", "ranking",
                                                  "reports"] + ([] if in_driver else ["stopping Ray"])
    assert summary["dedup"] | {"generation": None, "steps_in_driver": None} == {
        "generation": None, "steps_in_driver": None, "distinct_keys": distinct, "keyed_rows": len(ok),
        "duplicate_rows": len(ok) - distinct,
        "scoring_saved": round((len(ok) - distinct) / len(ok), 6), "keys_scored_this_run": distinct}


def test_unscorable_rows_keep_their_status_and_get_no_key(runs):
    base, _, _ = runs
    rows = report(base / "dedup")
    bad = rows[rows["status"] != "ok"]
    assert bad["status"].value_counts().to_dict() == {"null": 3, "empty": 6}
    assert bad["dup_count"].isna().all() and bad["caption_key"].isna().all() and bad["score"].isna().all()


def test_captions_per_second_counts_the_distinct_captions_the_model_scored(runs):
    _, summary, _ = runs
    t = summary["timing"]
    assert t["captions_scored"] == summary["dedup"]["distinct_keys"] < summary["rows_scored"]
    assert t["model_captions_per_second"] == round(t["captions_scored"] / t["model_seconds"], 2)
    assert t["rows_per_second"] == round(summary["rows_read"] / t["wall_seconds"], 2)
    assert abs(sum(t["phases"].values()) - t["wall_seconds"]) <= 0.05 * t["wall_seconds"]


def test_rerun_scores_nothing_and_a_new_input_only_its_new_keys(runs, tiny_eps, inputs, tmp_path, where):
    base, first, _ = runs
    files = sorted(inputs.glob("part-*.parquet"))
    again = scan(tiny_eps, base / "dedup", files, "--top-k", "20", *where)
    assert again["dedup"]["keys_scored_this_run"] == 0 and again["shards"]["resumed"] == 3
    assert again["timing"]["rows_this_run"] == 0

    grown = tmp_path / "grown"
    shutil.copytree(base / "dedup", grown)
    more = scan(tiny_eps, grown, [*files, inputs / "more.txt"], *where)
    assert more["dedup"]["keys_scored_this_run"] == 1  # only "a new caption" is new; the rest reuse key scores
    rows = report(grown)
    ok = rows[rows["status"] == "ok"]
    assert ok["dup_count"].tolist() == token_counts(tiny_eps, ok).tolist()
    assert ok.loc[ok["caption"] == caption(0), "dup_count"].iloc[0] == 3 * 2 + 1
    fresh = scan(tiny_eps, tmp_path / "fresh", [*files, inputs / "more.txt"])  # in the driver: the same report
    assert fresh["dedup"]["distinct_keys"] == more["dedup"]["distinct_keys"]
    pd.testing.assert_frame_equal(rows, report(tmp_path / "fresh"))


def test_dedup_and_no_dedup_do_not_mix_in_one_folder(runs, tiny_eps, inputs, capsys):
    _, _, plain = runs
    files = sorted(inputs.glob("part-*.parquet"))
    code = main(["scan", *map(str, files), "-o", str(plain), "--model", str(tiny_eps), "--batch-size", "4",
                 "--top-k", "20"])
    assert code != 0 and "dedup False -> True" in capsys.readouterr().err


def test_report_page_top_and_final_block_show_duplication(runs, capsys):
    base, summary, plain_out = runs
    page = (base / "dedup" / "report.html").read_text()
    assert "<th>dup_count</th>" in page and 'data-plot="score_dup_count"' in page
    assert (base / "dedup" / "plots" / "score_dup_count.png").stat().st_size > 1000
    distinct = summary["dedup"]["distinct_keys"]
    assert f"{distinct:,} distinct caption keys among 66 scorable rows" in page
    plain = (plain_out / "report.html").read_text()
    assert "<th>dup_count</th>" not in plain and "score_dup_count" not in plain and "off (--no-dedup)" in plain
    assert not (plain_out / "plots" / "score_dup_count.png").exists()

    assert main(["top", str(base / "dedup"), "-k", "50"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["rank", "score", "norm", "cosine", "dup_count"]
    flagged = pd.read_parquet(base / "dedup" / "flagged.parquet")
    assert len(flagged) == 20  # every flagged row stays in flagged.parquet
    firsts = flagged.drop_duplicates("caption_key")  # each caption once, at its best rank
    assert summary["flagged_captions"] == len(firsts) < 20
    shown = [line for line in lines[1:-1] if "flagged rows:" not in line]  # a caption's line, not its copies' line
    assert [int(line.split()[0]) for line in shown] == firsts["rank"].tolist()
    assert [int(line.split()[4]) for line in shown] == firsts["dup_count"].tolist()
    table = page.split('<table id="flagged">')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + len(firsts) and "flagged rows:</div>" in table

    block = "\n".join(final_block(summary, str(base / "dedup"), None, 0, "complete"))
    assert f"dedup:    {distinct:,} distinct caption keys among 66 scorable rows, {66 - distinct:,} duplicates" in block
    assert f"; 20 flagged, {len(firsts):,} distinct captions (--top-k)" in block
