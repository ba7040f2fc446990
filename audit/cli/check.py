"""`check`: a release gate on a scan's output folder (exit 0 within the limits, 1 over them, 2 cannot judge)."""
from __future__ import annotations

import argparse

from audit.cli.options import at_least
from audit.lines import safe_line

COUNTS = ("rows", "captions")  # what --max-flagged counts (audit.reports.gate.check_run's `count`)

EPILOG = """\
exit codes: 0 within the limits; 1 over a limit (the reason on one line); 2 the folder cannot be judged:
summary.json, report/ or flagged.parquet missing, unreadable or disagreeing with each other (flags that
the rows' scores and the recorded rule do not give, report rows that are not the finished units' scores,
a shard total that is not the done and failed markers), a partial run (failed shards: their rows were
never scored; rerun the scan to finish them), or --max-flagged on a run that had no flagging rule.
"""


def register(commands) -> None:
    p = commands.add_parser("check", help="release gate: fail if a scan flagged too much",
                            description="Check a finished scan against limits, for CI.", epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="RUN_DIR", help="output folder of `scan` (local or s3:// gs://)")
    p.add_argument("--max-flagged", type=at_least(0), default=0,
                   help="most flagged rows (or, with --count captions, distinct flagged captions) allowed (default 0)")
    p.add_argument("--count", choices=COUNTS, default="rows",
                   help="what --max-flagged counts: flagged rows (default; copies of a caption count each) or "
                        "distinct flagged captions (copies count once)")
    p.add_argument("--max-failed-rows", type=at_least(0), default=None,
                   help="most rows that could not be scored (null, empty, undecodable...) allowed (default: any)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from audit.reports.gate import check_run

    verdict = check_run(args.run_dir, args.max_flagged, args.max_failed_rows, args.count)
    print(safe_line(f"{'ok' if verdict.passed else 'fail'}: {verdict.reason}"))
    return 0 if verdict.passed else 1
