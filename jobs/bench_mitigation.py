"""Seconds per caption of batched mitigation versus one caption at a time, side by side in one process.

    python jobs/bench_mitigation.py                                   # bundled canary, batch 8
    python jobs/bench_mitigation.py --arch sd14 --batch 2 --steps 1 --generations 1 --words 3 --repeats 1
Adaptation: a fixed number of AdamW steps (the target is unreachable, so no caption stops early) on a batch
of captions, against the same captions adapted alone. Leave-one-out: every variant of the batch's captions
scored in one engine call, against one call per caption.
"""
from __future__ import annotations

import argparse
import json
import random
import time

import torch
from bench import sd14_random  # jobs/ is the script's folder; it puts the checkout on sys.path

from audit.mitigation.attribution import leave_one_out, leave_one_out_batch
from audit.mitigation.embedding import adapt_embeddings
from audit.model.loader import DTYPES, load_model, resolve_device
from audit.scoring.engine import ScoreConfig, Scorer
from audit.scoring.profiles import BUILTIN


def seconds(fn, repeats: int) -> float:
    """The fastest of `repeats` runs of fn (the least disturbed by other work on the machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=["canary", "sd14"], default="canary")
    p.add_argument("--batch", type=int, default=8, help="captions mitigated together")
    p.add_argument("--steps", type=int, default=10, help="adaptation steps")
    p.add_argument("--generations", type=int, default=4, help="noise latents of the adaptation")
    p.add_argument("--words", type=int, default=6, help="words per caption")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=list(DTYPES))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="time each side this many times, keep the fastest")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = load_model(None, device=str(device), dtype=args.dtype) if args.arch == "canary" \
        else sd14_random(device, DTYPES[args.dtype])
    adapt = Scorer(model, ScoreConfig(generations=args.generations, max_unet_rows=4096))
    scorer = Scorer(model, ScoreConfig(batch_size=4096, max_unet_rows=4096))
    w = BUILTIN["sd1"]
    vocab = "red blue green photo of a large small cat dog house tree on the beach at night with snow".split()
    captions = [" ".join(random.Random(i).sample(vocab, args.words)) for i in range(args.batch)]  # no shared variants

    def score_fn(batch: list[str]) -> list[float]:
        r = scorer.score(batch)
        return [n + 2 * c for n, c in zip(r["norm"], r["cosine"])]

    unreachable = float("-inf")
    figures = {"arch": args.arch, "device": str(device), "dtype": args.dtype, "threads": args.threads,
               "batch": args.batch, "steps": args.steps, "generations": args.generations, "words": args.words}
    adapt_embeddings(adapt, captions[:1], w, unreachable, max_steps=1)  # warm-up
    batched = seconds(lambda: adapt_embeddings(adapt, captions, w, unreachable, max_steps=args.steps), args.repeats)
    alone = seconds(lambda: [adapt_embeddings(adapt, [c], w, unreachable, max_steps=args.steps) for c in captions], args.repeats)
    figures |= {"adapt_batched_s_per_caption": round(batched / args.batch, 4),
                "adapt_alone_s_per_caption": round(alone / args.batch, 4), "adapt_speedup": round(alone / batched, 2)}
    batched = seconds(lambda: leave_one_out_batch(captions, score_fn), args.repeats)
    alone = seconds(lambda: [leave_one_out(c, score_fn) for c in captions], args.repeats)
    figures |= {"loo_batched_s_per_caption": round(batched / args.batch, 4),
                "loo_alone_s_per_caption": round(alone / args.batch, 4), "loo_speedup": round(alone / batched, 2)}
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
