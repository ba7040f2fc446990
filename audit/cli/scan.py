"""`scan`: score sharded caption sets on a Ray cluster (or a local Ray) into a ranked, resumable report."""
from __future__ import annotations

import argparse
import logging

from audit.cli.mitigate import add_mitigation_options, mitigate_run
from audit.cli.mitigate import options_from_args as mitigation_options
from audit.cli.options import add_model_options, at_least, fraction, stage_from_args

log = logging.getLogger(__name__)
EXIT_PARTIAL = 3

EPILOG = """\
inputs: Parquet files (LAION: TEXT column; img2dataset: caption), WebDataset .tar shards (caption from
the .txt member, or --caption-field of the .json member), .txt (a caption per line) or .jsonl files;
folders, globs and brace patterns (shards/{00000..00099}.tar); local paths or s3:// / gs:// URIs.
Each input file is one shard.

output folder: scores/ and done/ per shard, report/ (Parquet dataset sorted by rank), flagged.parquet,
summary.json, report.html and plots/ (rewrite them with `report`). Run the same command again to
resume: finished shards are skipped.

memory: the driver keeps per-shard bookkeeping only, never rows; the ranking is a range-partitioned
sort in Ray tasks (one per shard, then one per report file of about --rows-per-file rows).

exit codes: 0 every shard scored; 2 bad arguments or inputs, or resuming with other score parameters;
3 partial run: some shards failed (named in summary.json, the report covers the others); 1 other errors,
or with --mitigate some flagged rows could not be mitigated (as `mitigate`).
"""


def register(commands) -> None:
    p = commands.add_parser(
        "scan", help="score sharded caption sets on Ray (resumable)", epilog=EPILOG,
        description="Score every caption of many input shards on a Ray actor pool and write a globally ranked "
                    "report (rank 1 = most likely memorized). Rows that cannot be scored are kept with a status.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="input files, folders, globs or brace patterns (local or s3:// gs://)")
    p.add_argument("--output", "-o", required=True, help="output folder (local or s3:// gs://); reuse it to resume")
    p.add_argument("--caption-column", default=None, help="Parquet/jsonl caption column (default: TEXT, caption, text)")
    p.add_argument("--caption-field", default=None, help="WebDataset: take the caption from this .json field")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--actors", type=at_least(1), default=None, help="scoring actors (default: one per GPU, else 1)")
    p.add_argument("--actor-cpus", type=float, default=None, help="CPUs per actor (default 1 with a GPU, else 0.5)")
    p.add_argument("--rows-per-file", type=at_least(1), default=500_000, help="about this many rows per report file")
    flag = p.add_mutually_exclusive_group()
    flag.add_argument("--threshold", type=float, default=None, help="flag rows scoring above this (default: the "
                      "profile's calibrated threshold, e.g. from --profile written by `evaluate`)")
    flag.add_argument("--top-k", type=at_least(1), default=None, help="flag the k best-ranked rows")
    flag.add_argument("--top-fraction", type=fraction, default=None, help="flag this fraction of the scored rows")
    p.add_argument("--mitigate", action="store_true",
                   help="then mitigate the flagged rows on a second actor pool (see `mitigate --help`)")
    add_model_options(p)
    add_mitigation_options(p)
    p.set_defaults(run=run)


def options_from_args(args: argparse.Namespace):
    """The `ScanOptions` of parsed arguments (Ray is imported only when a scan runs)."""
    from audit.pipeline.options import ScanOptions

    return ScanOptions(inputs=args.inputs, output=args.output, stage=stage_from_args(args),
                       caption_column=args.caption_column, caption_field=args.caption_field, actors=args.actors,
                       actor_cpus=args.actor_cpus, address=args.address, threshold=args.threshold,
                       top_k=args.top_k, top_fraction=args.top_fraction, rows_per_file=args.rows_per_file)


def run(args: argparse.Namespace) -> int:
    from audit.pipeline.run import run_scan

    summary = run_scan(options_from_args(args))
    failed = summary["shards"]["failed"]
    log.info("%d rows in the report, %d scored, %d flagged (%s); %d of %d shards failed", summary["rows_read"],
             summary["rows_scored"], summary["flagged"], summary["flagging"]["chosen_by"], len(failed),
             summary["shards"]["total"])
    for shard in failed:
        log.error("shard failed: %s: %s", shard["source"], shard["reason"])
    mitigated = mitigate_run(mitigation_options(args, args.output, args.threshold)) if args.mitigate else 0
    return EXIT_PARTIAL if failed else mitigated
