"""Seconds per caption of the two trigger-word attributions, side by side in one process.

    python jobs/bench_attribution.py                          # bundled canary
    python jobs/bench_attribution.py --arch sd14 --captions 1 # SD 1.4 architecture, random weights (compute-bound)
Leave-one-out re-scores the caption once per word (2 UNet rows each); the gradient pass is one forward
and one backward of 2 UNet rows, whatever the caption's length.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from benchkit import sd14_random  # jobs/ is the script's folder

from audit.mitigation.attribution import gradient_x_input, leave_one_out
from audit.model.loader import DTYPES, load_model, resolve_device
from audit.scoring.engine import ScoreConfig, Scorer


def seconds_per_caption(fn, captions: list[str]) -> float:
    start = time.perf_counter()
    for caption in captions:
        fn(caption)
    return (time.perf_counter() - start) / len(captions)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=["canary", "sd14"], default="canary")
    p.add_argument("--captions", type=int, default=32)
    p.add_argument("--words", type=int, default=12, help="words per caption")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=list(DTYPES))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = load_model(None, device=str(device), dtype=args.dtype) if args.arch == "canary" \
        else sd14_random(device, DTYPES[args.dtype])
    scorer = Scorer(model, ScoreConfig(batch_size=64, max_unet_rows=128))
    vocab = "red blue green photo of a large small cat dog house tree on the beach at night with snow".split()
    captions = [" ".join(vocab[(i + k) % len(vocab)] for k in range(args.words)) for i in range(args.captions)]

    def score_fn(batch: list[str]) -> list[float]:
        r = scorer.score(batch)
        return [n + c for n, c in zip(r["norm"], r["cosine"])]

    loo = seconds_per_caption(lambda c: leave_one_out(c, score_fn), captions)
    grad = seconds_per_caption(lambda c: gradient_x_input(scorer, c, 1.0, 1.0), captions)
    print(json.dumps({"arch": args.arch, "device": str(device), "dtype": args.dtype, "threads": args.threads,
                      "words": args.words, "captions": args.captions, "leave_one_out_s": round(loo, 4),
                      "gradient_s": round(grad, 4), "gradient_speedup": round(loo / grad, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
