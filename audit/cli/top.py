"""`top`: print the best-ranked flagged captions of a scan as a table that fits the terminal."""
from __future__ import annotations

import argparse
import shutil

from audit.cli.options import at_least
from audit.lines import safe_line, safe_lines


def register(commands) -> None:
    p = commands.add_parser("top", help="print the top flagged captions of a scan",
                            description="Print rank, score, norm term, cosine term, dup_count (rows with the same "
                                        "caption key, when the scan deduplicated) and caption of the best-ranked "
                                        "flagged captions of a scan's output folder (captions cut to the terminal "
                                        "width). A caption flagged in several rows (copies) is shown once, with its "
                                        "best rank, followed by a line saying how many flagged rows it has and where "
                                        "the first ones are.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="output folder of `scan` (local or s3:// gs://)")
    p.add_argument("-k", type=at_least(1), default=20, help="distinct captions to show (default 20)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from audit.reports.terminal import top_table
    from audit.runfolder.folder import RunFolder

    folder = RunFolder.at(args.run_dir)
    summary = folder.summary()
    rule = summary["flagging"]["chosen_by"]
    if not summary["flagged"]:
        print(safe_line(f"no rows flagged among {summary['rows_scored']:,} scored (flagging: {rule})"))
        return 0
    groups = folder.flagged_captions(args.k)
    captions = summary.get("flagged_captions")
    captions = folder.count_flagged_captions() if captions is None else captions  # a folder of an older version
    print(safe_lines(top_table(groups, shutil.get_terminal_size().columns)))
    print(safe_line(f"{len(groups):,} of {captions:,} flagged captions ({summary['flagged']:,} flagged rows; {rule}); "
                    "every row in flagged.parquet"))
    return 0
