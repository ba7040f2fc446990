"""The sections of report.html: summary, flagged captions, per-shard breakdown, evaluation metrics."""
from __future__ import annotations

from pathlib import Path

from audit.reports import cells
from audit.reports.cells import text
from audit.reports.roc import Evaluation
from audit.runfolder.groups import CaptionGroup
from audit.schemas import URL_COLUMNS

SHARD_ROWS = 1000  # most shards listed


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{text(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def _count(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def shown_model(params: dict) -> str:
    """The model as the user gave it; the bundled canary (the default) by its name, not this machine's path."""
    model = params.get("model") or ""
    return CANARY_NAME if model and Path(model).resolve() == CANARY else model


def _dedup(d: dict | None) -> str:
    if not d:
        return "off (--no-dedup): every row was scored"
    return (f"{d['distinct_keys']:,} distinct caption keys among {d['keyed_rows']:,} scorable rows; "
            f"{d['duplicate_rows']:,} duplicate rows, so {d['scoring_saved']:.1%} of scoring saved; "
            f"{d['keys_scored_this_run']:,} keys scored in this run")


AFTER_THE_PAGE = ("reports", "mitigation", "stopping Ray")  # phases after the page was written: in summary.json


def _time(t: dict) -> str:
    """Where the run's time went up to this page, phase by phase (the same whenever the page is rewritten)."""
    before = {k: v for k, v in (t.get("phases") or {}).items() if k not in AFTER_THE_PAGE}
    phases = ", ".join(f"{text(name)} {seconds:,.1f} s" for name, seconds in before.items()) or "no phases recorded"
    return (f"{sum(before.values()):,.1f} s until this page ({phases}; writing it, mitigation and stopping Ray are in "
            f"summary.json); {t.get('model_seconds', 0):,.2f} s in the model for {t.get('captions_scored', 0):,} "
            f"captions; {t['rows_this_run']:,} rows read in this run")


def summary(s: dict) -> str:
    """Headline counts, a note on the canary model, then model, score, flagging, shard and timing details."""
    p, t, rule, shards = s["score_parameters"], s["timing"], s["flagging"], s["shards"]
    not_scored = sum(s["rows_not_scored"].values())
    reasons = ", ".join(f"{text(k)} {v:,}" for k, v in s["rows_not_scored"].items()) or "none"
    rate = t.get("model_captions_per_second")
    cards = [("rows read", _count(s["rows_read"])), ("scored", _count(s["rows_scored"])),
             ("not scored", _count(not_scored)), ("flagged rows", _count(s["flagged"])),
             *([("flagged captions", _count(s["flagged_captions"]))] if "flagged_captions" in s else []),
             ("captions/s per actor", "" if rate is None else f"{rate:,.1f}")]
    banner = "" if s["complete"] else (f'<p class="banner">Partial run: {len(shards["failed"])} of {shards["total"]} '
                                       "shards failed; this report covers the others.</p>")
    rule_text = (f"threshold {rule['threshold']:.6g}" if rule["threshold"] is not None
                 else f"top {rule['top_k']:,} rows" if rule["top_k"] is not None else "no rule")
    profile = p.get("profile") or {}
    details = [
        ("model", f"{text(shown_model(p))} ({text(p.get('prediction_type'))}, {text(p.get('dtype'))}, "
                  f"{text(p.get('device'))}), fingerprint {text(p.get('model_fingerprint'))}"),
        *[(f"LoRA {i + 1}", f"{text(a['path'])} at scale {a['scale']:g} (sha256 {text(a['sha256'])})")
          for i, a in enumerate(p.get("adapters", []))],
        ("score", f"{p['w_norm']:.4g} &middot; norm + {p['w_cos']:.4g} &middot; cosine "
                  f"(profile {text(profile.get('name'))}: {text(profile.get('source'))})"),
        ("noise", f"seed {text(p.get('seed'))}, {text(p.get('generations'))} generation(s), timesteps "
                  f"{text(p.get('t_hi'))} and {text(p.get('t_lo'))}"),
        ("flagging", f"{rule_text}, chosen by {text(rule['chosen_by'])}"),
        ("not scored by reason", reasons),
        ("shards", f"{shards['total']:,} total, {shards['finished']:,} finished ({shards['resumed']:,} from an "
                   f"earlier run), {len(shards['failed']):,} failed"),
        ("time", _time(t)),
        ("dedup", _dedup(s.get("dedup"))),
        ("tool", f"audit {text(p.get('version'))}"),
    ]
    if "mitigation" in s:
        m = s["mitigation"]
        once = f", {m['distinct_captions']:,} distinct captions mitigated once each" if "distinct_captions" in m else ""
        details.insert(5, ("mitigation", f"{m['ok']:,} of {m['flagged']:,} flagged rows mitigated ({m['failed']:,} "
                                         f"failed{once}) under threshold {m['threshold']:.4g}"
                                         + (f" (aiming at {m['target']:.4g})" if m.get("target") is not None else "")
                                         + ": the rewrite gets under it for "
                                         f"{m['rewrite_under_threshold']:,}, the adapted embedding for "
                                         f"{m['embedding_under_threshold']:,}; trigger words by "
                                         f"{text(m.get('attribution', 'leave-one-out'))}"))
    card_html = "".join(f'<div class="card"><b>{v}</b><span>{k}</span></div>' for k, v in cards)
    return (f'<section id="summary"><h2>Summary</h2>{banner}<div class="cards">{card_html}</div>'
            f'{model_note(p.get("model"))}<table class="details">{_rows(details)}</table></section>')


CANARY_NOTE = (
    "The model is the bundled canary: an 8x8-pixel model trained by this project on procedural data, so "
    "that its memorized captions are known. 129 captions of 4-6 pseudo-words (e.g. \u201cguru dilepo kini "
    "nifu melivu\u201d), each seen 590 times in training, are memorized: prompted with one, it reproduces its "
    "training image (labels/memorized.txt). Its ordinary training data are shape scenes (\u201ca large black "
    "triangle at the centre on a yellow background\u201d); those captions rank high too, not because the "
    "model copies an image, but because at 8x8 pixels such a caption determines nearly the whole image, so "
    "its guidance is strong. See audit/assets/canary/README.md.")
GUIDE = "docs/reading-the-report.md"
CANARY_NAME = "audit/assets/canary (bundled)"
CANARY = Path(__file__).resolve().parents[1] / "assets" / "canary"


def is_canary(model: str) -> bool:
    """Whether `model` is the bundled canary (this install's, or by its path in another checkout)."""
    return Path(model).resolve() == CANARY or model.rstrip("/").endswith("audit/assets/canary")


def model_note(model: str | None) -> str:
    """What the canary is, when it is the scanned model; and where the reading guide is (named, not linked: a
    link to this machine's files would be dead wherever the page is read)."""
    canary = f'<p class="note">{text(CANARY_NOTE)}</p>' if model and is_canary(model) else ""
    return f'{canary}<p class="muted">How to read this page: <code>{GUIDE}</code> in the audit source.</p>'


def files(mitigated: bool) -> str:
    """What else the run folder holds, beside this page."""
    items = [("report/", "every input row once, ranked (Parquet, sorted by rank)"),
             ("flagged.parquet", "the flagged rows"), ("summary.json", "the numbers of this summary"),
             ("plots/", "the figures as PNG files"), ("logs/scan.log", "Ray's output and our log of the scan")]
    if mitigated:
        items[2:2] = [("mitigations.parquet", "trigger words, rewrite and scores per flagged row"),
                      ("embeddings/", "the adapted prompt embedding of each flagged row, <row_id>.safetensors "
                                      "(key prompt_embeds, usable as a diffusers pipeline's prompt_embeds)")]
    else:
        items.append(("embeddings/", "after `scan --mitigate` or `mitigate`: adapted prompt embeddings"))
    rows = "".join(f"<tr><th><code>{text(k)}</code></th><td>{text(v)}</td></tr>" for k, v in items)
    return f'<section id="files"><h2>Files in the run folder</h2><table class="details">{rows}</table></section>'


def figure(title: str, name: str, data_uri: str, note: str = "") -> str:
    """A plot with its caption: `title` is text, `note` already HTML."""
    return (f'<figure><img src="{data_uri}" alt="{text(title)}" data-plot="{text(name)}">'
            f"<figcaption>{text(title)}{(' ' + note) if note else ''}</figcaption></figure>")


def _places(group: CaptionGroup, url_columns: list[str]) -> str:
    """Where a caption's flagged rows are: its row's file and position (and URL); for copies, the first few and
    how many more."""
    def one(row: dict) -> str:
        url = next((row[c] for c in url_columns if row.get(c) is not None), None)
        return cells.source(row["source"], row.get("row_index"), row.get("key"), url)

    if group.rows == 1:
        return one(group.row)
    more = group.rows - len(group.places)
    return (f'<div class="muted">{group.rows:,} flagged rows:</div>' + "".join(f"<div>{one(r)}</div>"
                                                                                for r in group.places)
            + (f'<div class="muted">+{more:,} more in flagged.parquet</div>' if more else ""))


def flagged(groups: list[CaptionGroup], total: int, captions: int, mitigations: dict[int, dict] | None) -> str:
    """The top flagged captions, copies of one caption in one row (its best rank, where its copies are); trigger
    words and rewrites when the run has mitigations."""
    if not total:
        return '<section id="top"><h2>Flagged captions</h2><p>No rows were flagged.</p></section>'
    rows = [g.row for g in groups]
    url_columns = [c for c in URL_COLUMNS if any(c in r for r in rows)]
    copies = any(r.get("dup_count") is not None for r in rows)
    head = ["rank", "caption", "score", "norm", "cosine", *["dup_count"] * copies,
            "source" + " and url" * bool(url_columns)]
    head += ["suggested rewrite"] * (mitigations is not None)
    body = []
    for group, row in zip(groups, rows):
        result = (mitigations or {}).get(row["row_id"])
        triggers = result.get("trigger_tokens") if result and result["status"] == "ok" else None
        tds = [("rank", text(row["rank"])), ("caption", cells.caption(row["caption"], triggers))] + \
              [("num", cells.number(row[c])) for c in ("score", "norm", "cosine")] + \
              ([("num", "" if row.get("dup_count") is None else f"{row['dup_count']:,}")] if copies else []) + \
              [("source", _places(group, url_columns))] + \
              [("rewrite", cells.mitigation(result))] * (mitigations is not None)
        body.append("<tr>" + "".join(f'<td class="{c}">{v}</td>' for c, v in tds) + "</tr>")
    counts = f"{captions:,} distinct captions in {total:,} flagged rows"
    note = (f"Showing the top {len(groups):,} of {counts}; every row is in flagged.parquet."
            if len(groups) < captions else f"All {counts}.")
    note += " A caption flagged in several rows (copies) is shown once, at its best rank."
    if mitigations is not None:
        note += " Highlighted words raise the score (darker: more); the rewrite strikes out dropped words."
    return (f'<section id="top"><h2>Flagged captions</h2><p class="muted">{note}</p><div class="wide">'
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
