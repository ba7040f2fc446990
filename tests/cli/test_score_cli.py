"""The `score` command end to end: statuses for bad rows, one-line errors for bad files, metadata, --help."""
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.cli.main import main
from audit.reports.parquet import read_metadata


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audit", *args], capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "AUDIT_TORCH_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_score_parquet_with_bad_rows(tiny_eps, tmp_path):
    long = "word " * 500
    table = pa.table({"key": ["a", "b", "c", "d", "e", "f", "g", "h"],
                      "caption": ["a red cat", None, "   ", long, "emoji \U0001F600 \x07", "a red cat", "\x07", "x"],
                      "url": [f"http://x/{i}" for i in range(8)], "score": list(range(8))})
    pq.write_table(table, tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    assert main(["score", "-i", str(tmp_path / "in.parquet"), "-o", str(out), "--model", str(tiny_eps),
                 "--batch-size", "3"]) == 0
    report = pd.read_parquet(out).set_index("key")
    assert len(report) == 8 and sorted(report["row_id"]) == list(range(8))
    assert report["status"].to_dict() == {"a": "ok", "b": "null", "c": "empty", "d": "ok", "e": "ok", "f": "ok",
                                         "g": "ok", "h": "ok"}
    assert bool(report.loc["d", "truncated"]) and report.loc["d", "n_tokens"] == 502
    assert not bool(report.loc["a", "truncated"])
    assert report.loc["a", "score"] == report.loc["f", "score"]  # duplicates get identical numbers
    assert report.loc["b", "rank"] is pd.NA
    assert report.loc[list("abcdefgh"), "input_score"].tolist() == list(range(8))  # passthrough, renamed
    ranked = report[report["status"] == "ok"].sort_values("rank")
    assert ranked["rank"].tolist() == [1, 2, 3, 4, 5, 6] and ranked["score"].is_monotonic_decreasing
    assert pd.read_parquet(out)["rank"].tolist()[:6] == [1, 2, 3, 4, 5, 6]  # file itself is sorted by rank
    meta = read_metadata(out)
    assert (meta["seed"], meta["generations"], meta["t_hi"], meta["t_lo"]) == (51, 1, 981, 41)
    assert meta["w_norm"] == 1.0 and meta["w_cos"] == 2.0 and meta["version"]


def test_scores_are_combined_with_profile_weights(tiny_eps, tmp_path):
    (tmp_path / "c.txt").write_text("one caption\nanother caption\n")
    main(["score", "-i", str(tmp_path / "c.txt"), "-o", str(tmp_path / "a.parquet"), "--model", str(tiny_eps),
          "--w-norm", "0.5", "--w-cos", "3"])
    frame = pd.read_parquet(tmp_path / "a.parquet")
    assert frame["score"].tolist() == pytest.approx((0.5 * frame["norm"] + 3 * frame["cosine"]).tolist(), rel=1e-12)


@pytest.mark.parametrize("setup,args,message", [
    (None, ["-i", "{d}/missing.txt"], "missing.txt: no such file"),
    ("broken", ["-i", "{d}/broken.parquet"], "unreadable Parquet file"),
    ("nocol", ["-i", "{d}/nocol.parquet"], "no caption column found"),
    ("nocol", ["-i", "{d}/nocol.parquet", "--caption-column", "TEXT"], "no column 'TEXT'"),
    ("txt", ["-i", "{d}/c.txt", "--model", "{d}/no-such-model"], "no such model folder"),
    ("txt", ["-i", "{d}/c.txt", "--profile", "{d}/nope.json"], "profile file not found"),
])
def test_bad_input_gives_one_line_error(tmp_path, capsys, setup, args, message):
    if setup == "broken":
        (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    elif setup == "nocol":
        pq.write_table(pa.table({"url": ["u"]}), tmp_path / "nocol.parquet")
    elif setup == "txt":
        (tmp_path / "c.txt").write_text("a caption\n")
    code = main(["score", *[a.format(d=tmp_path) for a in args], "-o", str(tmp_path / "o.parquet")])
    stderr = capsys.readouterr().err
    assert code == 2 and "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0]


def test_help_of_every_command():
    for command in ([], ["score"], ["evaluate"]):
        result = run_cli(*command, "--help")
        assert result.returncode == 0 and "usage:" in result.stdout
    assert "--generations" in run_cli("score", "--help").stdout


def test_cli_dtype_names_match_the_loader():
    from audit.cli.options import DTYPE_NAMES
    from audit.model.loader import DTYPES

    assert tuple(DTYPES) == DTYPE_NAMES


def test_numeric_option_types():
    import argparse

    from audit.cli.options import at_least, fraction

    assert at_least(0)("0") == 0 and fraction("0.5") == 0.5
    for parse, text in ((at_least(1), "0"), (fraction, "1.5")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_input_names_with_terminal_escapes_are_printed_escaped(tiny_eps, tmp_path):
    """A file or column name can carry escape sequences: log and error lines show them escaped, never raw."""
    evil = tmp_path / "evil\x1b[2J\x1b]0;owned\x07.txt"
    evil.write_text("a red cat\n")
    done = run_cli("score", "-i", str(evil), "-o", str(tmp_path / "out.parquet"), "--model", str(tiny_eps))
    assert done.returncode == 0 and "evil\\x1b[2J\\x1b]0;owned\\x07.txt" in done.stderr
    pq.write_table(pa.table({"\x1b[31mred\u202e": ["a cat"]}), tmp_path / "cols\x1b[1A.parquet")
    failed = run_cli("score", "-i", str(tmp_path / "cols\x1b[1A.parquet"), "-o", str(tmp_path / "o.parquet"),
                     "--model", str(tiny_eps))
    assert failed.returncode == 2 and "cols\\x1b[1A.parquet" in failed.stderr and "\\x1b[31mred\\u202e" in failed.stderr
    assert not any(ch in done.stderr + failed.stderr for ch in "\x1b\x07\u202e")


def test_score_agrees_with_scan_on_nothing_scored_and_flagging(tiny_eps, tmp_path, capsys):
    from tests.pipeline.builders import write_tar

    write_tar(tmp_path / "shard.tar", 0, 6)
    assert main(["score", "-i", str(tmp_path / "shard.tar"), "-o", str(tmp_path / "none.parquet"), "--model",
                 str(tiny_eps), "--caption-field", "nosuchfield"]) == 4  # as `scan` exits when nothing was scored
    assert capsys.readouterr().err.splitlines()[-1] == \
        "exit 4: nothing scored: no row of 6 could be scored (missing_field 6)"
    (tmp_path / "c.txt").write_text("a red cat\na blue dog\na green kite\n\n")
    reference = tmp_path / "plain.parquet"
    assert main(["score", "-i", str(tmp_path / "c.txt"), "-o", str(reference), "--model", str(tiny_eps)]) == 0
    scores = pd.read_parquet(reference)["score"].dropna().sort_values().tolist()
    profile = tmp_path / "profile.json"
    profile.write_text(f'{{"name": "mine", "w_norm": 1.0, "w_cos": 2.0, "threshold": {scores[1]!r}}}')
    out = tmp_path / "flagged.parquet"
    assert main(["score", "-i", str(tmp_path / "c.txt"), "-o", str(out), "--model", str(tiny_eps), "--profile",
                 str(profile)]) == 0
    report = pd.read_parquet(out)
    assert report["flagged"].tolist() == [True, False, False, False]  # above the profile's threshold, as in scan
    assert read_metadata(out)["flagging"]["chosen_by"] == "threshold of the score profile"
    assert main(["score", "-i", str(tmp_path / "c.txt"), "-o", str(out), "--model", str(tiny_eps), "--top-k", "2"]) == 0
    assert pd.read_parquet(out)["flagged"].tolist() == [True, True, False, False]


def test_mitigate_refuses_a_folder_that_is_no_scan_and_creates_nothing(tmp_path, capsys):
    assert main(["mitigate", str(tmp_path / "nonexistent")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'nonexistent'}: no summary.json (not a finished scan folder)\n"
    assert not (tmp_path / "nonexistent").exists()
