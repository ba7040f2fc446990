"""`scan`: score sharded caption sets on a Ray cluster (a local Ray; none for a small one) into a ranked, resumable
report."""
from __future__ import annotations

import argparse

from audit.cli.mitigate import add_mitigation_options, mitigate_run
from audit.cli.mitigate import options_from_args as mitigation_options
from audit.cli.options import add_model_options, at_least, fraction, stage_from_args
from audit.cli.outcome import EXIT_CODES, final_block, scan_exit
from audit.lines import safe_lines

EPILOG = """\
inputs: Parquet files (LAION: TEXT column; img2dataset: caption), WebDataset .tar shards (caption from
the .txt member, or --caption-field of the .json member), .txt (a caption per line) or .jsonl files;
folders, globs and brace patterns (shards/{00000..00099}.tar); local paths or s3:// / gs:// URIs.
Each input file is split into units of work of up to --unit-rows rows: a Parquet file into runs
of whole row groups, a .txt or .jsonl file into runs of lines; a .tar is one unit. A file is read
once, however often and however it is named. Listings skip hidden files and folders and
*_stats.json, and take .json files only for a glob ending in .json (a named .json file is read as
JSON Lines). URIs take pyarrow's options (?endpoint_override=...) and credentials
(s3://KEY:SECRET@bucket/..., ?access_key=...&secret_key=...), which are never stored or printed.

dedup: every row is keyed by a hash of the token ids the model sees (after truncation); each distinct key
is scored once across all inputs and every row gets its key's numbers and `dup_count` (rows of this scan
with that key). Three resumable steps: reading and keying, scoring distinct captions, joining (Ray Data
groupby and joins). --no-dedup scores every row instead (same numbers, no dup_count; for comparison).

output folder: scores/ and done/ per shard, report/ (Parquet dataset sorted by rank), flagged.parquet,
summary.json, report.html and plots/ (rewrite them with `report`). Run the same command again to
resume: finished shards are skipped.

memory: the driver keeps per-shard bookkeeping only, never rows (except a scan of at most --small-scan-rows
rows, which it keys, counts, joins and ranks itself; with --no-dedup it reads and writes it, its rows scored on
the first actor when the pool has one); the ranking is a range-partitioned sort in Ray tasks (one
per shard, then one per report file of about --rows-per-file rows).

small scans: when such a scan's pool would be one actor on this machine (no --address or RAY_ADDRESS, no
--actors or --max-actors, at most one GPU here, or --device cpu), Ray is not started: this process loads the
model, scores (and mitigates, with --mitigate); the console's pool line says so.

console: one progress line (rows, rows/s, ETA), then counts, speed (captions/s the model scored per actor,
rows/s end to end), the time of each phase (summary.json: timing.phases, adding up to the wall time), where
the report is and the exit status. Ray's own
output goes to logs/scan.log in the output folder (a temporary file for s3:// gs:// outputs); -v / --verbose
(before `scan`) shows it and our logs on the terminal instead.

""" + EXIT_CODES + "\n"


def register(commands) -> None:
    p = commands.add_parser(
        "scan", help="score sharded caption sets on Ray (resumable)", epilog=EPILOG,
        description="Score every caption of many input shards on a Ray actor pool and write a globally ranked "
                    "report (rank 1 = most likely memorized). Rows that cannot be scored are kept with a status.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="input files, folders, globs or brace patterns (local or s3:// gs://)")
    p.add_argument("--output", "-o", default=None,
                   help="output folder (local or s3:// gs://); reuse it to resume (required unless --plan)")
    plan = p.add_argument_group("plan")
    plan.add_argument("--plan", action="store_true",
                      help="print files, rows (from Parquet footers; other kinds counted), units, the share of distinct "
                           "captions (dedup; estimated from a tokenized sample) and an estimate of GPU-hours for 1, 8 "
                           "and 64 GPUs, then exit: nothing is scored, no weights are loaded")
    plan.add_argument("--json", action="store_true", help="with --plan: print the plan as JSON")
    plan.add_argument("--rate", type=float, default=None,
                      help="with --plan: captions/s of one GPU on this model (default: scaled by FLOPs from a "
                           "measured H200 run of SD 1.4; none for models under ~100 GFLOP per caption, whose rate "
                           "overheads decide: measure it, e.g. with `score` on a sample)")
    p.add_argument("--caption-column", default=None, help="Parquet/jsonl caption column (default: TEXT, caption, text)")
    p.add_argument("--caption-field", default=None, help="WebDataset: take the caption from this .json field")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--actors", type=at_least(1), default=None,
                   help="a fixed pool of this many scoring actors (default: an elastic pool, see --max-actors)")
    p.add_argument("--max-actors", type=at_least(1), default=None,
                   help="the most scoring actors: the pool starts with one per GPU present and adds one as each GPU "
                        "node joins, up to this many (default: the GPUs present when the scan starts; on an "
                        "autoscaling cluster, give the GPUs it may add, e.g. 8 for cluster.yaml); without GPUs: 1")
    p.add_argument("--actor-cpus", type=float, default=None, help="CPUs per actor (default 0.5, leaving CPUs to the "
                   "read, keying and write tasks)")
    p.add_argument("--stall-timeout", type=float, default=300.0,
                   help="stop (exit 5) when no unit or batch has finished for this many seconds while reading, scoring "
                        "or joining, e.g. actors that no node can host or a lost GPU node with none to replace it; the "
                        "error names the step and the cluster's free resources (default 300; 0: never)")
    p.add_argument("--gpu-wait", type=float, default=0.0, help="seconds to wait for an autoscaler to add the GPUs "
                   "the actors need when the cluster has too few (default 0: fail at once)")
    p.add_argument("--rows-per-file", type=at_least(1), default=500_000,
                   help="about this many rows per report file (default 500000)")
    p.add_argument("--unit-rows", type=at_least(1), default=100_000,
                   help="rows per unit of work: Parquet files are split into runs of whole row groups of up to "
                        "this many rows, each read, scored, kept and resumed on its own (default 100000)")
    p.add_argument("--no-dedup", dest="dedup", action="store_false",
                   help="score every row, not each distinct caption key once (same scores, slower on duplicated "
                        "data; the report then has no dup_count)")
    p.add_argument("--small-scan-rows", type=at_least(0), default=100_000,
                   help="a scan of at most this many rows is keyed, counted and joined (dedup), or read and written "
                        "(--no-dedup), in this process (starting Ray Data's steps costs more than such work); larger "
                        "scans do it on the cluster; 0: always on the cluster (default 100000)")
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


def options_from_args(args: argparse.Namespace, expanded=None, units=None):
    """The `ScanOptions` of parsed arguments (Ray is imported only when a scan runs); `expanded`: the inputs'
    shards, checked already; `units`: those planned into units."""
    from audit.pipeline.options import ScanOptions

    return ScanOptions(inputs=args.inputs, output=args.output, stage=stage_from_args(args),
                       caption_column=args.caption_column, caption_field=args.caption_field, actors=args.actors,
                       max_actors=args.max_actors, actor_cpus=args.actor_cpus, address=args.address, threshold=args.threshold,
                       top_k=args.top_k, top_fraction=args.top_fraction, rows_per_file=args.rows_per_file,
                       unit_rows=args.unit_rows, gpu_wait=args.gpu_wait, dedup=args.dedup, expanded=expanded,
                       units=units, small_scan_rows=args.small_scan_rows, stall_timeout=args.stall_timeout)


def run(args: argparse.Namespace) -> int:
    """Scan (and mitigate) in one Ray session (none for a small scan on this machine alone), on our console; exit
    code by `outcome.scan_exit`."""
    if args.plan:
        return print_plan(args)
    if args.output is None:
        raise ValueError("scan needs --output (or --plan to only plan)")
    from contextlib import nullcontext

    from audit.cli.console import scan_console
    from audit.cluster.connect import connected
    from audit.pipeline.clock import PhaseClock, process_started
    from audit.readers.preflight import checked_inputs
    from audit.readers.units import plan_units
    from audit.runfolder import storage
    from audit.runfolder.folder import RunFolder
    from audit.runfolder.guard import claim, locked

    clock = PhaseClock(args.started or process_started())  # the command's wall time (a program's: imports too)
    folder = RunFolder.at(args.output)
    expanded = checked_inputs(args.inputs, args.caption_column, exclude=folder.root)  # before Ray or any file
    options = options_from_args(args, expanded, plan_units(expanded, args.unit_rows))
    claim(folder)  # before the console writes its log into the folder
    mitigation_failed = False
    with scan_console(args.output, args.verbose) as console:
        from audit.pipeline.run import finish_timing, in_driver, run_scan  # inside: its imports log to the log

        ray_needed = not in_driver(options, options.units)
        with locked(folder, "scan --mitigate" if args.mitigate else "scan"):  # to the end
            with connected(args.address) if ray_needed else nullcontext():
                summary = run_scan(options, console.progress, clock)
                if args.mitigate:
                    clock.next("mitigation")
                    mitigation_failed = bool(mitigate_run(mitigation_options(args, args.output, args.threshold)))
                    summary = folder.summary()  # with the mitigation's counts
                if ray_needed:
                    clock.next("stopping Ray")
            summary = finish_timing(folder, summary, clock)
        code, reason = scan_exit(summary, mitigation_failed)
        shown = storage.redact(args.output)  # credentials in the address are never printed
        for line in final_block(summary, shown, console.log_file, code, reason):
            console.line(line)
    return code


def print_plan(args: argparse.Namespace) -> int:
    """`scan --plan`: the plan on stdout, as text or JSON."""
    import json

    from audit.pipeline.plan import format_plan, plan_scan

    plan = plan_scan(args.inputs, args.model_config or args.model, args.unit_rows, args.rate, args.dedup, args.caption_column,
                     args.caption_field)
    print(json.dumps(plan, indent=2) if args.json else safe_lines(format_plan(plan)))
    return 0
