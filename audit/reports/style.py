"""The inline style sheet of report.html and the Content-Security-Policy that allows only it and data: images."""
from __future__ import annotations

import base64
import hashlib

CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #d9e2ec; --soft: #f5f7fa; --accent: #2e86c1; --bad: #c0392b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink); }
header { padding: 18px 32px 10px; border-bottom: 3px solid var(--accent); background: var(--soft); }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; color: var(--muted); word-break: break-all; }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; font-weight: 600; }
main { padding: 8px 32px 40px; max-width: 1500px; }
h2 { margin: 28px 0 10px; font-size: 18px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 10px 0 16px; }
.card { min-width: 140px; padding: 10px 16px; border: 1px solid var(--line); border-radius: 8px; background: #fff; }
.card b { display: block; font-size: 22px; }
.card span { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
table { border-collapse: collapse; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { position: sticky; top: 0; background: var(--soft); }
tbody tr:nth-child(even) { background: #fafbfc; }
table.details th { color: var(--muted); font-weight: 600; white-space: nowrap; }
.scroll { max-height: 900px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
.wide { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
.note { padding: 8px 12px; border-left: 4px solid var(--accent); background: var(--soft); max-width: 1100px; }
#flagged { width: 100%; }
#flagged .caption { min-width: 300px; max-width: 520px; overflow-wrap: anywhere; }
#flagged .num { font-variant-numeric: tabular-nums; text-align: right; }
#flagged .source { white-space: nowrap; }
#flagged .source a { display: inline-block; max-width: 240px; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
#flagged .rewrite { min-width: 300px; max-width: 420px; }
.figures { display: flex; flex-wrap: wrap; gap: 20px; align-items: flex-start; }
figure { margin: 0; flex: 1 1 500px; max-width: 780px; }
figure img { width: 100%; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 12px; max-width: 700px; }
.muted { color: var(--muted); }
.bad, tr.failed td { color: var(--bad); }
.banner { padding: 8px 12px; border-left: 4px solid var(--bad); background: #fdedec; }
mark { border-radius: 3px; padding: 0 2px; color: inherit; }
mark.t1 { background: #fde2c4; } mark.t2 { background: #f8b878; } mark.t3 { background: #ef7d5a; }
del { color: var(--bad); } ins { color: #1e8449; text-decoration: underline; }
"""

_DIGEST = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CSP = f"default-src 'none'; img-src data:; style-src 'sha256-{_DIGEST}'"
