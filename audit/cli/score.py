"""`score`: rank the captions of one local file in-process and write a Parquet report."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from audit.cli.options import add_model_options, at_least, fraction, stage_from_args

log = logging.getLogger(__name__)
CHUNK = 256


def register(commands) -> None:
    p = commands.add_parser(
        "score", help="score one caption file in this process",
        description="Score every caption of one .txt (a caption per line), .jsonl, .parquet or WebDataset .tar file "
                    "(local, or an s3:// gs:// URI) and write a "
                    "Parquet report sorted by rank (1 = most likely memorized). Rows that cannot be scored are "
                    "kept with a `status` saying why. For sharded or very large inputs use `scan`.")
    p.add_argument("--input", "-i", required=True, help="caption file: .txt, .jsonl, .parquet or .tar (local or s3:// gs://)")
    p.add_argument("--output", "-o", required=True, help="report path (.parquet)")
    p.add_argument("--caption-column", default=None,
                   help="caption field/column (default: jsonl 'caption'; parquet TEXT, caption or text)")
    p.add_argument("--caption-field", default=None, help="WebDataset: take the caption from this .json field")
    flag = p.add_mutually_exclusive_group()
    flag.add_argument("--threshold", type=float, default=None, help="flag rows scoring above this (default: the "
                      "profile's calibrated threshold)")
    flag.add_argument("--top-k", type=at_least(1), default=None, help="flag the k best-ranked rows")
    flag.add_argument("--top-fraction", type=fraction, default=None, help="flag this fraction of the scored rows")
    add_model_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm import tqdm

    from audit.cli.outcome import scan_exit
    from audit.ranking.flagging import choose_flagging
    from audit.ranking.in_memory import flag_frame, rank_frame
    from audit.readers.dispatch import read_captions
    from audit.readers.status import OK
    from audit.reports.parquet import write_parquet_report
    from audit.scoring.keys import KeyStage, with_keys

    frame = read_captions(args.input, args.caption_column, args.caption_field)
    if not str(args.output).endswith(".parquet"):
        raise ValueError(f"--output must end in .parquet, got {args.output}")
    stage = stage_from_args(args)
    stage.setup()
    log.info("scoring %d rows from %s with %s (t_hi=%g, t_lo=%g, n=%d, weights norm %.3g / cos %.3g)", len(frame),
             args.input, stage.scorer.model.source, stage.scorer.t_hi, stage.scorer.t_lo, args.generations,
             stage.weights.w_norm, stage.weights.w_cos)
    start = time.time()
    parts = [stage.process(frame.iloc[i : i + CHUNK]) for i in tqdm(range(0, len(frame), CHUNK), unit="chunk",
                                                                      desc="scoring", disable=len(frame) <= CHUNK)]
    keys = KeyStage(stage.described_by)
    keys.setup()
    scored = rank_frame(with_keys(pd.concat(parts) if parts else stage.process(frame), keys))
    seconds = time.time() - start
    meta = stage.metadata() | {"input": str(args.input), "seconds": round(seconds, 3)}
    counts = scored["status"].value_counts().to_dict()
    flagging = choose_flagging(args.threshold, args.top_k, args.top_fraction, meta["threshold"], counts.get(OK, 0))
    scored = flag_frame(scored, flagging)
    meta["flagging"] = {"threshold": flagging.threshold, "top_k": flagging.top_k, "chosen_by": flagging.how}
    write_parquet_report(scored, Path(args.output), meta)
    log.info("wrote %s: %d rows in %.1f s (%s); %d flagged (%s)", args.output, len(scored), seconds,
             ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), int(scored["flagged"].sum()), flagging.how)
    code, reason = scan_exit({"shards": {"failed": [], "total": 1}, "rows_read": len(scored),
                              "rows_scored": counts.get(OK, 0),
                              "rows_not_scored": {k: v for k, v in sorted(counts.items()) if k != OK}})
    if code:
        print(f"exit {code}: {reason}", file=sys.stderr)  # as `scan` ends when no row could be scored
    return code
