"""`report`: (re)write report.html and plots/*.png of a scan's run folder from its Parquet and JSON files."""
from __future__ import annotations

import argparse

from audit.lines import safe_line


def register(commands) -> None:
    p = commands.add_parser(
        "report", help="write report.html of a scan's output folder",
        description="Write RUN_DIR/report.html (one self-contained page: summary, score histogram, norm-vs-cosine "
                    "scatter, top flagged captions with mitigation results, per-shard breakdown) and the plots as "
                    "RUN_DIR/plots/*.png, from the folder's files alone. `scan` writes the same page when it ends.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="output folder of `scan` (local or s3:// gs://)")
    p.add_argument("--evaluation", metavar="DIR", default=None,
                   help="output folder of `evaluate`: add ROC curves of the three scores with AUC and TPR@1%%FPR")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from audit.reports.html import write_html_report

    print(safe_line(write_html_report(args.run_dir, args.evaluation)))
    return 0
