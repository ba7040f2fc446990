"""Scoring speed with LoRA adapters fused into the weights against left as adapter layers, in one process.

    python jobs/bench_lora.py                 # the LoRA canary on the bundled canary, CPU, n = 1
    python jobs/bench_lora.py --model FOLDER --lora ADAPTER.safetensors --device cuda
Rounds alternate between the two models so that other load on the machine hits both alike; the scores must agree.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from audit.model.loader import DEFAULT_MODEL, load_model
from audit.model.lora_spec import parse_lora
from audit.scoring.engine import ScoreConfig, Scorer

LORA_CANARY = Path(DEFAULT_MODEL).parent / "canary_lora"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--lora", default=str(LORA_CANARY / "pytorch_lora_weights.safetensors"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--captions", type=int, default=256)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    captions = (LORA_CANARY / "labels" / "clean.txt").read_text().splitlines() * 4
    captions = captions[: args.captions]
    spec = [parse_lora(args.lora)]
    scorers = {name: Scorer(load_model(args.model, args.device, "float32", loras=spec, fuse=fuse), ScoreConfig(seed=51))
               for name, fuse in (("fused", True), ("unfused", False))}
    seconds: dict[str, list[float]] = {name: [] for name in scorers}
    norms = {}
    for _ in range(args.rounds + 1):  # the first round warms up and is not counted
        for name, scorer in scorers.items():
            start = time.perf_counter()
            norms[name] = np.array(scorer.score(captions)["norm"])
            seconds[name].append(time.perf_counter() - start)
    result = {name: {"median_seconds": round(statistics.median(s[1:]), 3),
                     "captions_per_second": round(len(captions) / statistics.median(s[1:]), 1)} for name, s in seconds.items()}
    result["max_norm_difference"] = float(np.abs(norms["fused"] - norms["unfused"]).max())
    result["setup"] = {"model": args.model, "lora": args.lora, "device": args.device, "captions": len(captions),
                       "rounds": args.rounds, "threads": args.threads, "generations": 1}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
