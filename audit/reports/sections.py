"""The sections of report.html: summary, flagged captions, per-shard breakdown, evaluation metrics."""
from __future__ import annotations

import pyarrow as pa

from audit.reports import cells
from audit.reports.cells import text
from audit.reports.roc import Evaluation
from audit.schemas import URL_COLUMNS

SHARD_ROWS = 1000  # most shards listed


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{text(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def _count(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def summary(s: dict) -> str:
    """Headline counts, then model, score, flagging, shard and timing details of summary.json."""
    p, t, rule, shards = s["score_parameters"], s["timing"], s["flagging"], s["shards"]
    not_scored = sum(s["rows_not_scored"].values())
    reasons = ", ".join(f"{text(k)} {v:,}" for k, v in s["rows_not_scored"].items()) or "none"
    rate = t.get("captions_per_second")
    cards = [("rows read", _count(s["rows_read"])), ("scored", _count(s["rows_scored"])),
             ("not scored", _count(not_scored)), ("flagged", _count(s["flagged"])),
             ("captions/s", "" if rate is None else f"{rate:,.1f}")]
    banner = "" if s["complete"] else (f'<p class="banner">Partial run: {len(shards["failed"])} of {shards["total"]} '
                                       "shards failed; this report covers the others.</p>")
    rule_text = (f"threshold {rule['threshold']:.6g}" if rule["threshold"] is not None
                 else f"top {rule['top_k']:,} rows" if rule["top_k"] is not None else "no rule")
    profile = p.get("profile") or {}
    details = [
        ("model", f"{text(p.get('model'))} ({text(p.get('prediction_type'))}, {text(p.get('dtype'))}, "
                  f"{text(p.get('device'))})"),
        ("score", f"{p['w_norm']:.4g} &middot; norm + {p['w_cos']:.4g} &middot; cosine "
                  f"(profile {text(profile.get('name'))}: {text(profile.get('source'))})"),
        ("noise", f"seed {text(p.get('seed'))}, {text(p.get('generations'))} generation(s), timesteps "
                  f"{text(p.get('t_hi'))} and {text(p.get('t_lo'))}"),
        ("flagging", f"{rule_text}, chosen by {text(rule['chosen_by'])}"),
        ("not scored by reason", reasons),
        ("shards", f"{shards['total']:,} total, {shards['finished']:,} finished ({shards['resumed']:,} from an "
                   f"earlier run), {len(shards['failed']):,} failed"),
        ("time", f"{t['wall_seconds']:,.1f} s wall, {t['scoring_seconds']:,.1f} s scoring, "
                 f"{t['rows_this_run']:,} rows scored in this run"),
        ("tool", f"audit {text(p.get('version'))}"),
    ]
    if "mitigation" in s:
        m = s["mitigation"]
        details.insert(5, ("mitigation", f"{m['ok']:,} of {m['flagged']:,} flagged rows mitigated ({m['failed']:,} "
                                         f"failed) under threshold {m['threshold']:.4g}"
                                         + (f" (aiming at {m['target']:.4g})" if m.get("target") is not None else "")
                                         + ": the rewrite gets under it for "
                                         f"{m['rewrite_under_threshold']:,}, the adapted embedding for "
                                         f"{m['embedding_under_threshold']:,}; trigger words by "
                                         f"{text(m.get('attribution', 'leave-one-out'))}"))
    card_html = "".join(f'<div class="card"><b>{v}</b><span>{k}</span></div>' for k, v in cards)
    return (f'<section id="summary"><h2>Summary</h2>{banner}<div class="cards">{card_html}</div>'
            f'<table class="details">{_rows(details)}</table></section>')


def figure(title: str, name: str, data_uri: str, note: str = "") -> str:
    """A plot with its caption: `title` is text, `note` already HTML."""
    return (f'<figure><img src="{data_uri}" alt="{text(title)}" data-plot="{text(name)}">'
            f"<figcaption>{text(title)}{(' ' + note) if note else ''}</figcaption></figure>")


def flagged(table: pa.Table, total: int, mitigations: dict[int, dict] | None) -> str:
    """The top flagged rows; trigger words and rewrites when the run has mitigations."""
    if not total:
        return '<section id="top"><h2>Flagged captions</h2><p>No rows were flagged.</p></section>'
    url_columns = [c for c in URL_COLUMNS if c in table.column_names]
    head = ["rank", "caption", "score", "norm", "cosine", "source" + " and url" * bool(url_columns)]
    head += ["suggested rewrite"] * (mitigations is not None)
    body = []
    for row in table.to_pylist():
        result = (mitigations or {}).get(row["row_id"])
        triggers = result.get("trigger_tokens") if result and result["status"] == "ok" else None
        url = next((row[c] for c in url_columns if row[c] is not None), None)
        tds = [("rank", text(row["rank"])), ("caption", cells.caption(row["caption"], triggers))] + \
              [("num", cells.number(row[c])) for c in ("score", "norm", "cosine")] + \
              [("source", cells.source(row["source"], row.get("row_index"), row.get("key"), url))] + \
              [("rewrite", cells.mitigation(result))] * (mitigations is not None)
        body.append("<tr>" + "".join(f'<td class="{c}">{v}</td>' for c, v in tds) + "</tr>")
    note = (f"Showing the top {table.num_rows:,} of {total:,} flagged rows; all are in flagged.parquet."
            if table.num_rows < total else f"All {total:,} flagged rows.")
    if mitigations is not None:
        note += " Highlighted words raise the score (darker: more); the rewrite strikes out dropped words."
    return (f'<section id="top"><h2>Flagged captions</h2><p class="muted">{note}</p><div class="scroll">'
            f'<table id="flagged"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div></section>')


def shards(counts: dict[str, dict[str, int]], failed: list[dict]) -> str:
    """Rows, scored and flagged per input shard; failed shards first, with their reason."""
    lines = [f'<tr class="failed"><td>{text(f["source"])}</td><td></td><td></td><td></td>'
             f'<td>failed: {text(f["reason"])}</td></tr>' for f in failed]
    lines += [f'<tr><td>{text(source)}</td><td>{c["rows"]:,}</td><td>{c["scored"]:,}</td><td>{c["flagged"]:,}</td>'
              f"<td>ok</td></tr>" for source, c in counts.items()]
    note = f"Showing {SHARD_ROWS:,} of {len(lines):,} shards, failed ones first." if len(lines) > SHARD_ROWS else ""
    return (f'<section id="shards"><h2>Input shards</h2><p class="muted">{note}</p><div class="scroll">'
            '<table id="shard-table"><thead><tr><th>source</th><th>rows</th><th>scored</th><th>flagged</th>'
            f'<th>status</th></tr></thead><tbody>{"".join(lines[:SHARD_ROWS])}</tbody></table></div></section>')


def evaluation(result: Evaluation, scanned_model: str | None) -> str:
    """AUC and TPR@1%FPR of each score on the labelled captions, with the ROC figure's caption."""
    rows = "".join(f"<tr><td>{text(name)}</td><td>{m['auc']:.3f}</td><td>{m['tpr@1%fpr']:.3f}</td></tr>"
                   for name, m in result.metrics.items())
    model = result.parameters.get("model")
    warning = (f'<p class="banner">The evaluation scored model {text(model)}, not the scanned model '
               f"{text(scanned_model)}.</p>" if model and model != scanned_model else "")
    return (f"{warning}<table><thead><tr><th>score</th><th>AUC</th><th>TPR@1%FPR</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
