"""HTML fragments of untrusted values (captions, URLs, sources, mitigation results): everything escaped."""
from __future__ import annotations

import difflib
import math
import re
from html import escape

SAFE_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
LEVELS = 3  # trigger highlight strengths


def text(value: object) -> str:
    """Any value as escaped text; missing values as an empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return escape(str(value), quote=True)


def number(value: float | None, digits: int = 4) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def link(url: object) -> str:
    """An http(s) URL as a link that opens nothing else of the report; anything else as plain text."""
    if isinstance(url, str) and SAFE_URL.fullmatch(url):
        return f'<a href="{escape(url, quote=True)}" rel="noopener noreferrer nofollow">{escape(url)}</a>'
    return text(url)


def source(path: str, row_index: object, key: object, url: object) -> str:
    """The input file's name and the row in it (index or WebDataset key; full path as a tooltip), then the URL."""
    where = key if key is not None and not (isinstance(key, float) and math.isnan(key)) else row_index
    name = path.rsplit("/", 1)[-1]
    address = "" if url is None else f"<br>{link(url)}"
    return f'<span title="{text(path)}">{text(name)}</span> <span class="muted">{text(where)}</span>{address}'


def _finite_positive(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def caption(value: str, triggers: list[dict] | None) -> str:
    """The caption, words that raise its score marked by strength (`triggers`: one entry per word, in order)."""
    if not triggers or [t["token"] for t in triggers] != value.split():
        return text(value)
    top = max((t["contribution"] for t in triggers if _finite_positive(t["contribution"])), default=0.0)
    parts = []
    for t in triggers:
        if top and _finite_positive(t["contribution"]):
            level = min(LEVELS, max(1, math.ceil(LEVELS * t["contribution"] / top)))
            parts.append(f'<mark class="t{level}" title="adds {t["contribution"]:.4g} to the score">'
                         f'{text(t["token"])}</mark>')
        else:
            parts.append(text(t["token"]))
    return " ".join(parts)


def rewrite(original: str, suggested: str) -> str:
    """The suggested caption with dropped words struck through and new words underlined."""
    old, new = original.split(), suggested.split()
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(text(" ".join(old[i1:i2])))
        if op in ("delete", "replace"):
            parts.append(f"<del>{text(' '.join(old[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{text(' '.join(new[j1:j2]))}</ins>")
    return " ".join(parts)


def mitigation(result: dict | None) -> str:
    """The suggested rewrite and the adapted embedding of one flagged row."""
    if result is None:
        return '<span class="muted">not mitigated</span>'
    if result["status"] != "ok":
        return f'<span class="bad">{text(result["status"])}</span>'
    def verdict(converged: bool) -> str:
        return "under the threshold" if converged else '<span class="bad">above the threshold</span>'

    return (f'<div>{rewrite(result["caption"], result["suggested_caption"])}</div>'
            f'<div class="muted">score {number(result["suggested_score"])} ({int(result["edits"])} dropped): '
            f'{verdict(result["rewrite_converged"])}</div><div class="muted">adapted embedding: '
            f'{number(result["embedding_score"])} after {int(result["embedding_steps"])} steps: '
            f'{verdict(result["embedding_converged"])}</div>')
