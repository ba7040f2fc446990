"""report.html content: same bytes from `report` as from `scan`, mitigations, ROC curves, partial runs, big runs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.cli.main import main
from audit.evaluation.metrics import detection_metrics
from audit.reports.html import build_report
from audit.reports.stats import FLAGGED_POINTS, SCATTER_POINTS, collect_stats
from audit.runfolder.folder import RunFolder
from tests.report_run import copy_run, scanned_run, write_run


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_eps):
    return scanned_run(tmp_path_factory, tiny_eps)


def test_report_command_rewrites_the_scan_page_byte_for_byte(run, tmp_path):
    copy = copy_run(run, tmp_path / "run")
    for path in [copy / "report.html", *(copy / "plots").iterdir()]:
        path.unlink()
    assert main(["report", str(copy)]) == 0
    assert (copy / "report.html").read_bytes() == (run / "report.html").read_bytes()
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["score_dup_count.png", "score_histogram.png", "score_terms.png"]
    for plot in (run / "plots").iterdir():
        assert (copy / "plots" / plot.name).read_bytes() == plot.read_bytes()
    page = (run / "report.html").read_text()
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_mitigation_results_in_the_flagged_table(run, tmp_path):
    copy = copy_run(run, tmp_path / "run")
    first, second = pd.read_parquet(copy / "flagged.parquet").head(2).itertuples()
    words = first.caption.split()
    rows = [{"row_id": first.row_id, "caption": first.caption, "original_score": first.score,
             "trigger_tokens": [{"token": w, "contribution": 0.1 if w == "red" else -0.1} for w in words],
             "suggested_caption": " ".join(w for w in words if w != "red"), "suggested_score": 0.5, "edits": 1,
             "rewrite_converged": True, "embedding_file": "e/1.safetensors", "embedding_score": 0.4,
             "embedding_steps": 7, "embedding_converged": True, "seconds_triggers": 1.0, "seconds_rewrite": 1.0,
             "seconds_embedding": 1.0, "status": "ok"},
            {"row_id": second.row_id, "caption": second.caption, "original_score": second.score,
             "status": "error: RuntimeError: <b>out of memory</b>"}]
    table = pa.Table.from_pylist(rows)
    assert table.schema.field("trigger_tokens").type == pa.list_(pa.struct([("token", pa.string()),
                                                                           ("contribution", pa.float64())]))
    pq.write_table(table, copy / "mitigations.parquet")
    summary = json.loads((copy / "summary.json").read_text())
    summary["mitigation"] = {"threshold": 1.5, "target": 0.25, "flagged": 12, "ok": 1, "failed": 1, "rewrite_under_threshold": 1,
                             "embedding_under_threshold": 1, "attribution": "gradient"}
    (copy / "summary.json").write_text(json.dumps(summary))
    page, _ = build_report(RunFolder.at(str(copy)))
    assert "<th>suggested rewrite</th>" in page
    assert "1 of 12 flagged rows mitigated (1 failed) under threshold 1.5 (aiming at 0.25)" in page
    assert "the adapted embedding for 1; trigger words by gradient" in page
    assert '<mark class="t3" title="adds 0.1 to the score">red</mark>' in page  # 3 * 0.1 / 0.1 > 3 in floats
    assert page.count("<mark") == 1 and "<del>red</del>" in page
    assert "adapted embedding: 0.4000 after 7 steps: under the threshold" in page
    assert "error: RuntimeError: &lt;b&gt;out of memory&lt;/b&gt;" in page
    assert page.count("not mitigated") == 12 - 2


def test_evaluation_adds_roc_curves_of_the_three_scores(run, tmp_path):
    copy, evaluation = copy_run(run, tmp_path / "run"), tmp_path / "evaluation"
    evaluation.mkdir()
    rng = np.random.default_rng(1)
    label = np.repeat([1, 0], [40, 160])
    norm, cosine = rng.normal(label, 1.0), rng.normal(0.5 * label, 1.0)
    frame = pd.DataFrame({"caption": [f"c{i}" for i in range(200)], "norm": norm, "cosine": cosine,
                          "score": norm + 2 * cosine, "label": label})
    frame.to_parquet(evaluation / "scores.parquet")
    (evaluation / "evaluation.json").write_text(json.dumps({"score_parameters": {"model": "another-model"}}))
    assert main(["report", str(copy), "--evaluation", str(evaluation)]) == 0
    page = (copy / "report.html").read_text()
    assert 'data-plot="roc"' in page and (copy / "plots" / "roc.png").stat().st_size > 5000
    for name, column in (("combined", "score"), ("norm alone", "norm"), ("cosine alone", "cosine")):
        m = detection_metrics(label, frame[column])
        assert f"<tr><td>{name}</td><td>{m['auc']:.3f}</td><td>{m['tpr@1%fpr']:.3f}</td></tr>" in page
    assert "The evaluation scored model another-model, not the scanned model" in page
    with_roc = (copy / "report.html").read_bytes()
    shutil.rmtree(evaluation)  # the run folder keeps what the page needs: it travels without the evaluation folder
    assert main(["report", str(copy)]) == 0  # as a resumed scan or `mitigate` rewrites the page
    assert (copy / "report.html").read_bytes() == with_roc and (copy / "plots" / "roc.png").stat().st_size > 5000
    shutil.rmtree(copy / "evaluation")  # how to drop it again
    assert main(["report", str(copy)]) == 0
    assert not (copy / "plots" / "roc.png").exists()
    assert (copy / "report.html").read_bytes() == (run / "report.html").read_bytes()


def test_the_page_names_no_path_of_this_machine(tmp_path):
    from audit.model.loader import DEFAULT_MODEL

    folder = write_run(tmp_path / "run", np.linspace(2, 1, 5), np.arange(5) < 2, captions=True,
                       score_parameters={"model": DEFAULT_MODEL, "w_norm": 1.0, "w_cos": 2.0})
    page, _ = build_report(RunFolder.at(str(folder)))
    assert "<p>model audit/assets/canary (bundled)</p>" in page and DEFAULT_MODEL not in page
    assert "file://" not in page and "<code>docs/reading-the-report.md</code> in the audit source" in page


def test_missing_evaluation_is_a_one_line_error(run, tmp_path, capsys):
    assert main(["report", str(run), "--evaluation", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: no scores.parquet (write one with `evaluate --output " \
                                      f"{tmp_path}`)\n"


def test_shard_breakdown_and_partial_run_banner(run, tmp_path):
    copy = copy_run(run, tmp_path / "run")
    summary = json.loads((copy / "summary.json").read_text())
    summary["complete"] = False
    summary["shards"] |= {"total": 3, "failed": [{"source": "/in/broken.parquet", "shard_id": "b", "reason": "bad"}]}
    (copy / "summary.json").write_text(json.dumps(summary))
    page, _ = build_report(RunFolder.at(str(copy)))
    assert "Partial run: 1 of 3 shards failed" in page
    assert '<tr class="failed"><td>/in/broken.parquet</td><td></td><td></td><td></td><td>failed: bad</td></tr>' in page
    report = pd.read_parquet(copy / "report")
    for source, rows in report.groupby("source"):
        assert (f"<tr><td>{source}</td><td>{len(rows)}</td><td>{rows['rank'].notna().sum()}</td>"
                f"<td>{rows['flagged'].sum()}</td><td>ok</td></tr>") in page


def test_big_run_plots_read_a_bounded_sample_and_no_captions(tmp_path):
    n, k = 300_000, 4_000
    scores = np.sort(np.random.default_rng(0).normal(size=n))[::-1]
    folder = write_run(tmp_path / "big", scores, np.arange(n) < k, sources=3)  # no caption column at all
    summary = json.loads((folder / "summary.json").read_text())
    stats = collect_stats(RunFolder.at(str(folder)), summary, cut=scores[k - 1])
    assert stats.counts.sum() == n and stats.scored == n and stats.n_flagged == k
    assert stats.flagged.sum() == k <= FLAGGED_POINTS  # few flagged rows: all of them are shown
    assert 0.95 * SCATTER_POINTS < (~stats.flagged).sum() < 1.05 * SCATTER_POINTS
    assert stats.shards == {f"s{i}.parquet": {"rows": n // 3, "scored": n // 3,
                                              "flagged": int(np.sum(np.arange(i, k, 3) < k))} for i in range(3)}
    again = collect_stats(RunFolder.at(str(folder)), summary, cut=scores[k - 1])
    assert np.array_equal(again.norm, stats.norm) and np.array_equal(again.counts, stats.counts)


def test_flagged_table_is_capped(tmp_path):
    folder = write_run(tmp_path / "many", np.linspace(2, 1, 800), np.arange(800) < 600, captions=True)
    page, _ = build_report(RunFolder.at(str(folder)))
    table = page[page.index('<table id="flagged">'):page.index("</table>", page.index('<table id="flagged">'))]
    assert table.count("<tr>") == 1 + 500 and "Showing the top 500 of 600 distinct captions in 600 flagged rows" in page
    assert '<td class="caption">caption 499</td>' in table and "caption 500<" not in table


def test_canary_note_reading_guide_and_run_files(tmp_path):
    import audit
    from audit.model.loader import DEFAULT_MODEL
    from audit.reports.sections import CANARY_NOTE, GUIDE
    from audit.reports.style import CSS

    scores = np.linspace(2, 1, 30)
    canary = write_run(tmp_path / "canary", scores, np.arange(30) < 20, captions=True,
                       score_parameters={"model": DEFAULT_MODEL, "w_norm": 1.0, "w_cos": 0.3})
    other = write_run(tmp_path / "other", scores, np.arange(30) < 20, captions=True)
    page, _ = build_report(RunFolder.at(str(canary)))
    assert "shape scenes" in CANARY_NOTE and "bundled canary" in page and "bundled canary" not in \
        build_report(RunFolder.at(str(other)))[0]
    assert "<code>docs/reading-the-report.md</code>" in page and (Path(audit.__file__).parents[1] / GUIDE).is_file()
    assert "<code>embeddings/</code>" in page and "<code>logs/scan.log</code>" in page
    # the flagged table grows with the page instead of scrolling in a box of its own
    assert '<div class="wide"><table id="flagged">' in page
    wide = CSS[CSS.index(".wide {"):CSS.index("}", CSS.index(".wide {"))]
    assert "max-height" not in wide and "overflow-x: auto" in wide


@pytest.mark.parametrize("rows", [5, 40, 300_000])
def test_histogram_log_axis_has_several_labels(tmp_path, rows):
    from audit.reports.plots import histogram_figure

    scores = np.sort(np.random.default_rng(0).normal(size=rows))[::-1]
    folder = write_run(tmp_path / "run", scores, np.arange(rows) < 2)
    summary = json.loads((folder / "summary.json").read_text())
    fig = histogram_figure(collect_stats(RunFolder.at(str(folder)), summary, None), None)
    fig.canvas.draw()
    low, high = fig.axes[0].get_ylim()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if low <= t.get_position()[1] <= high]
    assert len(labels) >= 3 and all(labels) and len(labels) <= 10, labels


def test_report_of_a_run_without_scored_rows(tmp_path):
    folder = write_run(tmp_path / "none", np.array([]), np.array([], dtype=bool), rows_scored=0)
    page, plots = build_report(RunFolder.at(str(folder)))
    assert "No rows were flagged." in page and set(plots) == {"score_histogram", "score_terms"}
