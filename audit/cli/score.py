"""`score`: rank the captions of one local file in-process and write a Parquet report."""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from audit.cli.options import add_model_options, stage_from_args

log = logging.getLogger(__name__)
CHUNK = 256


def register(commands) -> None:
    p = commands.add_parser(
        "score", help="score one caption file in this process",
        description="Score every caption of one .txt (a caption per line), .jsonl, .parquet or WebDataset .tar file "
                    "(local, or an s3:// gs:// URI) and write a "
                    "Parquet report sorted by rank (1 = most likely memorized). Rows that cannot be scored are "
                    "kept with a `status` saying why. For sharded or very large inputs use `scan`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input", "-i", required=True, help="caption file: .txt, .jsonl, .parquet or .tar (local or s3:// gs://)")
    p.add_argument("--output", "-o", required=True, help="report path (.parquet)")
    p.add_argument("--caption-column", default=None,
                   help="caption field/column (default: jsonl 'caption'; parquet TEXT, caption or text)")
    p.add_argument("--caption-field", default=None, help="WebDataset: take the caption from this .json field")
    add_model_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm import tqdm

    from audit.ranking.in_memory import rank_frame
    from audit.readers.dispatch import read_captions
    from audit.reports.parquet import write_parquet_report
    from audit.scoring.keys import KeyStage, with_keys

    frame = read_captions(args.input, args.caption_column, args.caption_field)
    if not str(args.output).endswith(".parquet"):
        raise ValueError(f"--output must end in .parquet, got {args.output}")
    stage = stage_from_args(args)
    stage.setup()
    log.info("scoring %d rows from %s with %s (t_hi=%d, t_lo=%d, n=%d, weights norm %.3g / cos %.3g)", len(frame),
             args.input, stage.scorer.model.source, stage.scorer.t_hi, stage.scorer.t_lo, args.generations,
             stage.weights.w_norm, stage.weights.w_cos)
    start = time.time()
    parts = [stage.process(frame.iloc[i : i + CHUNK]) for i in tqdm(range(0, len(frame), CHUNK), unit="chunk",
                                                                      desc="scoring", disable=len(frame) <= CHUNK)]
    keys = KeyStage(stage.model)
    keys.setup()
    scored = rank_frame(with_keys(pd.concat(parts) if parts else stage.process(frame), keys))
    seconds = time.time() - start
    meta = stage.metadata() | {"input": str(args.input), "seconds": round(seconds, 3)}
    write_parquet_report(scored, Path(args.output), meta)
    counts = scored["status"].value_counts().to_dict()
    log.info("wrote %s: %d rows in %.1f s (%s)", args.output, len(scored), seconds,
             ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0
