"""`top` and `check` on a scan's output folder: table output, release-gate verdicts and exit codes."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.cli.main import main
from audit.reports.terminal import clip
from audit.runfolder.folder import RunFolder
from tests.report_run import SCRIPT, TOP_K, copy_run, scanned_run, write_run


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_eps):
    return scanned_run(tmp_path_factory, tiny_eps)


def test_top_prints_ranked_rows_cut_to_the_terminal(run, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "72")
    assert main(["top", str(run), "-k", "5"]) == 0
    header, *rows, footer = capsys.readouterr().out.splitlines()
    assert header.split() == ["rank", "score", "norm", "cosine", "dup_count", "caption"]
    flagged = pd.read_parquet(run / "flagged.parquet").head(5)
    assert len(rows) == 5 and all(len(line) <= 72 for line in rows)
    for line, row in zip(rows, flagged.itertuples()):
        rank, score, norm, cosine, copies, caption = line.split(maxsplit=5)
        assert (int(rank), score, norm, cosine, int(copies)) == (row.rank, f"{row.score:.4f}", f"{row.norm:.4f}",
                                                                 f"{row.cosine:.4f}", row.dup_count)
        assert caption.endswith("…") and row.caption.startswith(caption[:-1]) and caption.startswith(SCRIPT[:8])
    assert footer == f"5 of {TOP_K} flagged captions ({TOP_K} flagged rows; --top-k); every row in flagged.parquet"


def test_top_shows_all_flagged_when_fewer_than_k(run, capsys):
    assert main(["top", str(run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + TOP_K + 1 and lines[-1].startswith(f"{TOP_K} of {TOP_K} flagged captions")


def test_top_without_flagged_rows_and_without_a_run(tmp_path, capsys):
    none = write_run(tmp_path / "none", np.array([3.0, 2.0, 1.0]), np.zeros(3, dtype=bool),
                     flagging={"threshold": 5.0, "top_k": None, "chosen_by": "--threshold"})
    assert main(["top", str(none)]) == 0
    assert capsys.readouterr().out == "no rows flagged among 3 scored (flagging: --threshold)\n"
    assert main(["top", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'missing'}: no summary.json (not a finished scan folder)\n"


def test_clip_neutralizes_terminal_control_and_counts_wide_characters():
    assert clip("\x1b[2Jred\u202etxt.exe\nnext", 40) == "\ufffd[2Jred\ufffdtxt.exe next"
    assert clip("猫猫猫猫", 6) == "猫猫…" and clip("abcdef", 6) == "abcdef" and clip("abcdefg", 6) == "abcde…"


@pytest.mark.parametrize("limits,code,message", [
    (["--max-flagged", str(TOP_K), "--max-failed-rows", "2"], 0,
     f"ok: {TOP_K} flagged rows, {TOP_K} distinct captions (limit {TOP_K} rows), 2 not scored (limit 2) of 60 rows"),
    ([], 1, f"fail: {TOP_K} rows flagged ({TOP_K} distinct captions; --top-k), more than --max-flagged 0 rows"),
    (["--max-flagged", "100", "--max-failed-rows", "1"], 1,
     "fail: 2 rows not scored (empty 1, null 1), more than --max-failed-rows 1"),
])
def test_check_limits(run, capsys, limits, code, message):
    assert main(["check", str(run), *limits]) == code
    assert capsys.readouterr().out == message + "\n"


def _partial(folder):
    summary = json.loads((folder / "summary.json").read_text())
    summary["shards"]["failed"] = [{"source": "/in/c.tar", "shard_id": "c", "reason": "corrupt tar file"}]
    (folder / "summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize("damage,message", [
    (lambda f: (f / "summary.json").unlink(), "no summary.json (not a finished scan folder)"),
    (lambda f: (f / "summary.json").write_text("{"), "summary.json is not valid JSON"),
    (lambda f: shutil.rmtree(f / "report"), "no report/ Parquet files"),
    (lambda f: (f / "flagged.parquet").unlink(), "flagged.parquet"),
    (lambda f: (f / "report" / "part-000000.parquet").write_bytes(b"PAR1 cut"), "Parquet"),
    (_partial, "partial run: 1 of 2 shards failed (/in/c.tar: corrupt tar file); run the same scan again"),
])
def test_check_cannot_judge_a_broken_or_partial_run(run, tmp_path, capsys, damage, message):
    folder = copy_run(run, tmp_path / "run")
    damage(folder)
    assert main(["check", str(folder), "--max-flagged", "100"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_check_refuses_a_flagged_limit_without_a_flagging_rule(tmp_path, capsys):
    folder = write_run(tmp_path / "norule", np.array([2.0, 1.0]), np.zeros(2, dtype=bool),
                       flagging={"threshold": None, "top_k": None, "chosen_by": "none: no --threshold"})
    assert main(["check", str(folder)]) == 2
    assert "no flagging rule" in capsys.readouterr().err
    assert main(["check", str(folder), "--max-failed-rows", "0"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["check", str(folder), "--max-flagged", "-1"])
    assert exit_info.value.code == 2


def _failed_marker(folder):
    """A shard failed, as the scan records it in failed/, but summary.json no longer names it."""
    (folder / "failed").mkdir(exist_ok=True)
    (folder / "failed" / "c-0123456789.json").write_text(json.dumps({"source": "/in/c.tar", "reason": "corrupt tar"}))


def _forget(key):
    def damage(folder):
        summary = json.loads((folder / "summary.json").read_text())
        if key == "flagged":
            summary["flagged"] = 0
        else:
            del summary[key]
        (folder / "summary.json").write_text(json.dumps(summary))
    return damage


def _malformed(folder):
    summary = json.loads((folder / "summary.json").read_text())
    summary["shards"] = 5
    (folder / "summary.json").write_text(json.dumps(summary))


@pytest.mark.parametrize("damage,message", [
    (_failed_marker, "partial run: 1 of 2 shards failed (/in/c.tar: corrupt tar)"),
    (_forget("flagged"), f"report/ flags {TOP_K}, but summary.json says 0"),
    (_malformed, "summary.json is malformed (TypeError"),
    (_forget("rows_not_scored"), "summary.json is malformed (KeyError"),
    (lambda f: shutil.rmtree(f / "done"), "no done/ markers"),
])
def test_gate_trusts_the_folder_not_the_summary(run, tmp_path, capsys, damage, message):
    folder = copy_run(run, tmp_path / "run")
    damage(folder)
    assert main(["check", str(folder), "--max-flagged", "100"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_gate_counts_unscored_rows_from_the_report(run, tmp_path, capsys):
    folder = copy_run(run, tmp_path / "run")
    summary = json.loads((folder / "summary.json").read_text())
    summary["rows_not_scored"] = {"empty": 0, "null": 0}  # a summary that hides the two unscored rows
    (folder / "summary.json").write_text(json.dumps(summary))
    assert main(["check", str(folder), "--max-flagged", "100", "--max-failed-rows", "0"]) == 2
    assert "report/ has 2 rows not scored but summary.json says 0" in capsys.readouterr().err


def _rewrite_report(folder, change):
    """Apply `change` (a DataFrame -> DataFrame function) to every report/ part and rewrite flagged.parquet and
    summary.json's count to agree, as a consistent editor of the folder would."""
    flagged = []
    for part in sorted((folder / "report").glob("*.parquet")):
        table = pq.read_table(part)
        frame = change(table.to_pandas())
        table = pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False)
        pq.write_table(table, part)
        flagged.append(table.filter(table["flagged"]))
    pq.write_table(pa.concat_tables(flagged), folder / "flagged.parquet")
    summary = json.loads((folder / "summary.json").read_text())
    summary["flagged"] = sum(t.num_rows for t in flagged)
    summary["flagged_captions"] = RunFolder.at(str(folder)).count_flagged_captions()
    (folder / "summary.json").write_text(json.dumps(summary))


def _cleared_flags(folder):
    _rewrite_report(folder, lambda f: f.assign(flagged=False))


def _cleared_flags_under_a_threshold(folder):
    summary = json.loads((folder / "summary.json").read_text())
    summary["flagging"] = {"threshold": 1.0, "top_k": None, "chosen_by": "--threshold"}
    (folder / "summary.json").write_text(json.dumps(summary))
    _rewrite_report(folder, lambda f: f.assign(flagged=False))


def _failures_forgotten(folder):
    """A partial run whose failed/ markers were deleted and summary.json's failed list emptied."""
    summary = json.loads((folder / "summary.json").read_text())
    summary["shards"]["total"] += 1
    (folder / "summary.json").write_text(json.dumps(summary))


def _score_edited(folder):
    _rewrite_report(folder, lambda f: f.assign(score=f["score"].where(f["rank"] != 30, f["score"] - 1e-6)))


@pytest.mark.parametrize("damage,message", [
    (_cleared_flags, f"report/'s flags are not the top {TOP_K} scores: 0 flagged where {TOP_K} should be"),
    (_cleared_flags_under_a_threshold, "report/ disagrees with its threshold 1: 58 rows score above it but are not"),
    (_failures_forgotten, "summary.json counts 3 shards but done/ and failed/ mark 2"),
    (_score_edited, "report/'s 60 rows are not the 60 rows of the finished units' scores/ files"),
])
def test_gate_derives_flags_and_rows_again(run, tmp_path, capsys, damage, message):
    folder = copy_run(run, tmp_path / "run")
    damage(folder)
    assert main(["check", str(folder), "--max-flagged", "100", "--max-failed-rows", "100"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_copies_of_a_caption_are_shown_once_and_counted_apart(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    keys = ["a"] * 5 + ["b", "c", "c"]
    folder = write_run(tmp_path / "dup", np.array([9.0] * 5 + [8.0, 7.0, 7.0]), np.ones(8, dtype=bool), sources=2,
                       keys=keys, flagged_captions=3)
    assert main(["top", str(folder), "-k", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "rank    score     norm   cosine  dup_count  caption",
        "   1   9.0000   2.2500   1.1250          5  caption a",
        "                                            5 flagged rows: s0.parquet:0, s1.parquet:0, s0.parquet:1, +2 more",
        "   6   8.0000   2.0000   1.0000          1  caption b",
        "2 of 3 flagged captions (8 flagged rows; --top-k); every row in flagged.parquet"]
    assert len(pd.read_parquet(folder / "flagged.parquet")) == 8  # every row stays
    assert main(["report", str(folder)]) == 0
    table = (folder / "report.html").read_text().split('<table id="flagged">')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 3 and table.count("caption a") == 1 and "5 flagged rows:" in table
    assert "+2 more in flagged.parquet" in table and "All 3 distinct captions in 8 flagged rows." in \
        (folder / "report.html").read_text()
    capsys.readouterr()
    assert main(["check", str(folder), "--max-flagged", "3", "--count", "captions"]) == 0
    assert capsys.readouterr().out == \
        "ok: 8 flagged rows, 3 distinct captions (limit 3 captions), 0 not scored (limit none) of 8 rows\n"
    assert main(["check", str(folder), "--max-flagged", "3"]) == 1  # rows by default
    assert capsys.readouterr().out == \
        "fail: 8 rows flagged (3 distinct captions; --top-k), more than --max-flagged 3 rows\n"
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps(summary | {"flagged_captions": 8}))
    assert main(["check", str(folder), "--max-flagged", "8"]) == 2
    assert "flagged.parquet holds 3 distinct captions but summary.json says 8" in capsys.readouterr().err
