"""Captions per second of the batched engine versus one-caption-at-a-time baselines, in one process.

    python jobs/bench.py --arch canary --captions 256
    python jobs/bench.py --arch sd14 --captions 3            # SD 1.4 UNet architecture, random weights
    python jobs/bench.py --arch sd14 --device cuda --dtype bfloat16 --captions 2048 --batch-size 256 --engine-only
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# `python jobs/X.py` puts jobs/, not the checkout, on sys.path: import this checkout's `audit` even when not installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from benchkit import bench_captions, rate, sd14_random  # noqa: E402  (jobs/ is the script's folder)

from audit.model.loader import DTYPES, load_model, resolve_device  # noqa: E402
from audit.scoring.baselines import authors_procedure, naive_terms  # noqa: E402
from audit.scoring.engine import ScoreConfig, Scorer  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=["canary", "sd14"], default="canary")
    p.add_argument("--model", default=None, help="with --arch canary: a pipeline folder (default: bundled canary)")
    p.add_argument("--captions", type=int, default=256)
    p.add_argument("--baseline-captions", type=int, default=None, help="captions for the slow baselines")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=list(DTYPES))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--engine-only", action="store_true", help="skip the baselines (GPU throughput run)")
    p.add_argument("--compile", action="store_true", help="torch.compile the UNet in the engine")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = load_model(args.model, device=str(device), dtype=args.dtype) if args.arch == "canary" \
        else sd14_random(device, DTYPES[args.dtype])
    captions = bench_captions(args.captions)
    config = ScoreConfig(batch_size=args.batch_size, max_unet_rows=max(2 * args.batch_size, 2), compile=args.compile)
    setup_start = time.perf_counter()
    scorer = Scorer(model, config)
    result = {"arch": args.arch, "device": str(device), "dtype": args.dtype, "threads": args.threads,
              "batch_size": args.batch_size, "compile": args.compile,
              "engine_setup_s": round(time.perf_counter() - setup_start, 3)}
    if device.type == "cuda" or args.compile:
        warm = time.perf_counter()
        scorer.score(captions[: args.batch_size])  # warm-up (and compilation) on one full batch
        result["warmup_s"] = round(time.perf_counter() - warm, 3)
    result["engine_captions_per_s"] = rate(scorer.score, captions)
    if not args.engine_only:
        sub = captions[: args.baseline_captions or len(captions)]
        x = scorer.x_T[:1]
        result["naive_captions_per_s"] = rate(lambda cs: [naive_terms(model, c, x, scorer.t_hi, scorer.t_lo) for c in cs], sub)
        result["authors_captions_per_s"] = rate(
            lambda cs: [authors_procedure(model, c, x, scorer.t_hi, scorer.t_lo) for c in cs], sub)
        result["speedup_vs_naive"] = result["engine_captions_per_s"] / result["naive_captions_per_s"]
        result["speedup_vs_authors"] = result["engine_captions_per_s"] / result["authors_captions_per_s"]
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
