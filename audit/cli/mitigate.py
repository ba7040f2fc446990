"""`mitigate`: trigger tokens, a caption rewrite and an adapted prompt embedding for each flagged caption."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from audit.cli.options import at_least

if TYPE_CHECKING:
    from audit.mitigation.pool import MitigationOptions

ATTRIBUTIONS = ("leave-one-out", "gradient")  # audit.mitigation.attribution.METHODS, without importing torch here

EPILOG = """\
For each flagged row of RUN_DIR (written by `scan`), scored exactly as the scan scored it:
  trigger tokens   each word's contribution: the score drop when that word alone is removed
                   (--attribution leave-one-out, exact), or gradient x input of the score on the
                   word's token embeddings (--attribution gradient: one backward pass, cheaper for
                   long captions on large models);
  rewrite          drop the strongest words one at a time (every candidate re-scored in a batch)
                   until the score is under the threshold, or --max-edits words are gone;
  embedding        AdamW on the caption's text-encoder states with the score as the loss, x_T fixed,
                   averaged over 4 noise latents, until under --target or --max-steps (the paper's
                   mitigation); saved as RUN_DIR/embeddings/<row_id>.safetensors (key prompt_embeds,
                   usable as a diffusers pipeline's prompt_embeds; SDXL: with pooled_prompt_embeds).
The target is always under the threshold: --target, else the median score of clean captions stored in
the profile by `evaluate`, else 10% of the threshold under it; summary.json says which.
Each distinct flagged caption is mitigated once, with its best-ranked row; its other flagged rows (copies
in other shards, say) get the same results, with `same_as` naming that row. Distinct captions go in
batches of --mitigation-batch-size in rank order (adapted together); each finished batch
is kept under RUN_DIR/mitigation/, so a rerun after a kill redoes only unfinished batches (results of
another scan or other settings are discarded). Writes RUN_DIR/mitigations.parquet (rank order, embedding
paths relative to RUN_DIR), adds counts to summary.json and rewrites report.html.
Exit codes: 0 every flagged row mitigated; 1 some rows failed (status in mitigations.parquet); 2 bad input.
"""


def add_mitigation_options(parser: argparse.ArgumentParser, notes: str = "see `mitigate --help`") -> None:
    g = parser.add_argument_group("mitigation")
    g.add_argument("--mitigation-actors", type=at_least(1), default=None,
                   help="actors of the mitigation pool (default: one per GPU, else 1; when that is one actor on this "
                        "machine and no --address is named, no pool: this process mitigates)")
    g.add_argument("--attribution", choices=ATTRIBUTIONS, default=ATTRIBUTIONS[0],
                   help=f"how trigger words are measured (default leave-one-out; {notes})")
    g.add_argument("--max-edits", type=at_least(0), default=3, help="most words a rewrite may drop (default 3)")
    g.add_argument("--max-steps", type=at_least(0), default=50,
                   help="most gradient steps of the embedding adaptation (default 50)")
    g.add_argument("--target", type=float, default=None, help="score the embedding adaptation aims for, under the "
                   "threshold (default: the profile's clean-caption median, else 10%% under the threshold)")
    g.add_argument("--mitigation-batch-size", type=at_least(1), default=8,
                   help="distinct flagged captions adapted together and kept as one resumable batch (default 8)")
    g.add_argument("--lr", type=float, default=0.05, help="AdamW learning rate of the embedding adaptation "
                   "(default 0.05)")


def register(commands) -> None:
    p = commands.add_parser("mitigate", help="mitigate the flagged captions of a finished scan", epilog=EPILOG,
                            description="Mitigate the flagged captions of a scan run folder on a Ray actor pool.",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="run folder written by `scan` (local or s3:// gs://)")
    p.add_argument("--threshold", type=float, default=None,
                   help="score to get under (default: the scan's flagging threshold)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--address", default=None, help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="also load .bin/.pt weights (pickle can run code); default: safetensors only")
    add_mitigation_options(p, notes="see below")
    p.set_defaults(run=run)


def options_from_args(args: argparse.Namespace, run_dir: str, threshold: float | None = None) -> "MitigationOptions":
    from audit.mitigation.pool import MitigationOptions

    return MitigationOptions(run_dir=run_dir, device=args.device, actors=args.mitigation_actors,
                             address=args.address, threshold=threshold, target=args.target, max_edits=args.max_edits,
                             max_steps=args.max_steps, lr=args.lr, attribution=args.attribution,
                             batch_size=args.mitigation_batch_size, allow_pickle=args.allow_pickle)


def mitigate_run(options: "MitigationOptions") -> int:
    """Mitigate, then rewrite the HTML report so it shows the results; 1 if any row failed. Holds the run
    folder's lock: a scan or another mitigation of the same folder is refused meanwhile."""
    from audit.mitigation.pool import run_mitigation
    from audit.reports.html import write_html_report
    from audit.runfolder.folder import RunFolder
    from audit.runfolder.guard import locked

    folder = RunFolder.at(options.run_dir)
    folder.summary()  # a folder that is no finished scan is refused before the lock creates anything
    with locked(folder, "mitigate"):
        counts = run_mitigation(options)
        write_html_report(options.run_dir)
    return int(counts["failed"] > 0)


def run(args: argparse.Namespace) -> int:
    """Mitigate on our console: Ray's output in the run's logs/mitigate.log; the counts, the log and the folder."""
    from audit.cli.console import scan_console
    from audit.cli.outcome import mitigation_line
    from audit.runfolder.folder import RunFolder

    folder = RunFolder.at(args.run_dir)
    folder.summary()  # a folder without a finished scan is refused before anything is written into it
    with scan_console(args.run_dir, args.verbose, "mitigate.log") as console:
        code = mitigate_run(options_from_args(args, args.run_dir, args.threshold))
        console.line(mitigation_line(folder.summary()["mitigation"]))
        if console.log_file:
            console.line(f"Ray log:  {console.log_file}")
        console.line(f"folder:   {args.run_dir.rstrip('/')}/ (mitigations.parquet, embeddings/, report.html)")
    return code
