"""report.html of a run folder: one self-contained page (inline CSS, plots as data: URIs, no scripts), and
the same plots as plots/*.png. Built from the folder's Parquet and JSON files alone; same folder, same bytes.
"""
from __future__ import annotations

import base64
from pathlib import Path

from audit.reports import sections
from audit.reports.cells import text
from audit.reports.plots import Cut, dup_scatter, flag_cut, score_histogram, terms_scatter
from audit.reports.roc import Evaluation, keep_evaluation, kept_evaluation, load_evaluation
from audit.reports.stats import collect_stats
from audit.reports.style import CSP, CSS
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder
from audit.schemas import URL_COLUMNS

TOP_ROWS = 500  # most flagged captions in the table
PLOTS = ("score_histogram", "score_terms", "score_dup_count", "roc")


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _page(title: str, subtitle: str, body: list[str]) -> str:
    nav = "".join(f'<a href="#{i}">{n}</a>' for i, n in (("summary", "Summary"), ("plots", "Scores"),
                                                          ("top", "Flagged"), ("shards", "Shards"),
                                                          ("files", "Files")))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{text(title)}</title><style>{CSS}</style></head>\n<body><header><h1>{text(title)}</h1>"
            f"<p>{text(subtitle)}</p><nav>{nav}</nav></header><main>\n" + "\n".join(body) + "\n</main></body></html>\n")


def _cut_note(cut: Cut | None) -> str:
    return f"Dashed line: {text(cut.label)}." if cut else "No flagging rule, so no threshold line."


def build_report(run: RunFolder, evaluation: Evaluation | None = None) -> tuple[str, dict[str, bytes]]:
    """The HTML page and its plots (name -> PNG bytes), with the ROC curves of `evaluation`."""
    summary = run.summary()
    params, cut = summary["score_parameters"], flag_cut(run, summary)
    stats = collect_stats(run, summary, cut.score if cut else None)
    plots = {"score_histogram": score_histogram(stats, cut),
             "score_terms": terms_scatter(stats, params["w_norm"], params["w_cos"], cut)}
    figures = [sections.figure("Combined score, log count axis.", "score_histogram",
                               _data_uri(plots["score_histogram"]), _cut_note(cut)),
               sections.figure("Norm term against cosine term; flagged rows in red.", "score_terms",
                               _data_uri(plots["score_terms"]),
                               "Big runs are sampled: up to 50,000 unflagged and 10,000 flagged rows.")]
    if len(stats.dup_count):
        plots["score_dup_count"] = dup_scatter(stats, cut)
        figures.append(sections.figure("Combined score against dup_count (rows with the same caption key), log "
                                       "axis; flagged rows in red.", "score_dup_count",
                                       _data_uri(plots["score_dup_count"]), _cut_note(cut)))
    if evaluation is not None:
        plots["roc"] = evaluation.png
        figures.append(sections.figure(f"ROC on {evaluation.n_memorized:,} memorized and {evaluation.n_clean:,} "
                                       f"clean labelled captions (from {evaluation.source}).", "roc",
                                       _data_uri(evaluation.png), sections.evaluation(evaluation, params["model"])))
    top = run.flagged_captions(TOP_ROWS, URL_COLUMNS)
    captions = summary.get("flagged_captions")
    captions = run.count_flagged_captions() if captions is None else captions  # a folder of an older version
    body = [sections.summary(summary),
            f'<section id="plots"><h2>Scores</h2><div class="figures">{"".join(figures)}</div></section>',
            sections.flagged(top, summary["flagged"], captions, run.mitigations([g.row["row_id"] for g in top])),
            sections.shards(stats.shards, summary["shards"]["failed"]), sections.files("mitigation" in summary)]
    return _page("Memorization audit", f"model {sections.shown_model(params)}", body), plots


def write_html_report(address: str, evaluation_dir: str | Path | None = None) -> str:
    """Write report.html and plots/*.png into the run folder at `address`; return the page's path. The ROC curves
    of `evaluation_dir` are kept in the folder and shown by every later rewrite (a resumed scan, `mitigate`)."""
    run = RunFolder.at(address)
    if evaluation_dir is not None:
        keep_evaluation(run, load_evaluation(evaluation_dir))
    page, plots = build_report(run, kept_evaluation(run))
    fs = run.fs
    for name in PLOTS:
        if name in plots:
            storage.write_bytes(fs, run.path("plots", f"{name}.png"), plots[name])
        else:
            storage.remove_file(fs, run.path("plots", f"{name}.png"))  # e.g. no dup_count plot without dedup
    storage.write_bytes(fs, run.path("report.html"), page.encode())
    return run.path("report.html")
