"""Rebuild a bundled canary model: train, verify memorization by sampling, label, calibrate, document.

    python jobs/train_canary.py --seed 0 --out audit/assets/canary
    python jobs/train_canary.py --family sdxl --seed 0 --out audit/assets/canary_sdxl
    python jobs/train_canary.py --family sd3 --seed 0 --out audit/assets/canary_sd3
    python jobs/train_canary.py --lora --seed 0 --out audit/assets/canary_lora

--lora trains a LoRA adapter on the bundled SD canary instead of a model: it memorizes new captions (data drawn
from seed + LORA_DATA_OFFSET, none of them the base canary's), and the base's score profile is measured with and
without it.

The SD canary needs no downloads except the clip-anytorch wheel from PyPI (for the CLIP BPE merges file),
unless --bpe-merges points at a local copy of bpe_simple_vocab_16e6.txt.gz. The SDXL canary needs none: its
two small-vocabulary tokenizers take the first merges of the bundled SD canary's tokenizer; nor does the SD3 (flow
matching) canary, whose two CLIP tokenizers are built the same way (it has no T5).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

FAMILIES = {"sd": "audit/assets/canary", "sdxl": "audit/assets/canary_sdxl", "sd3": "audit/assets/canary_sd3"}
LORA_OUT, LORA_DATA_OFFSET, LORA_STEPS, LORA_DUPLICATED, LORA_LR = "audit/assets/canary_lora", 1000, 1000, 100, 4e-3
LORA_DUPLICATE_FRACTION, LORA_FRESH_FRACTION = 0.6, 0.25  # more repeats than the base canary: a LoRA learns slower
SDXL_VOCAB = 2048  # the SDXL and SD3 canaries' tokenizers keep the first merges: small token tables keep it under 10 MB
SD3_TOKENS = 32  # the SD3 canary's CLIP token limit: its longest caption takes 28 tokens; 77 doubled a step's time
ALLOCATOR_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000", "MALLOC_TOP_PAD_": "1000000000"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--family", choices=FAMILIES, default="sd",
                   help="sd: one text encoder; sdxl: two, with added conditioning; sd3: flow matching, MMDiT")
    p.add_argument("--lora", action="store_true", help="train the LoRA canary on the bundled SD canary")
    p.add_argument("--seed", type=int, default=0, help="seed of data, initialization and training order")
    p.add_argument("--out", default=None, help="pipeline folder to write (default: the bundled one of the family)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the shipped recipe)")
    p.add_argument("--duplicated", type=int, default=None, help="duplicated (memorization target) pairs")
    p.add_argument("--seen-once", type=int, default=200, help="texture pairs seen exactly once")
    p.add_argument("--never-seen", type=int, default=200, help="texture captions never trained on")
    p.add_argument("--bpe-merges", default=None, help="local bpe_simple_vocab_16e6.txt.gz (default: fetch wheel)")
    p.add_argument("--tokenizer", default=None, help="SD only: reuse this tokenizer folder instead of building one")
    p.add_argument("--skip-training", action="store_true",
                   help="label, calibrate and document the weights already in --out (after a failure past training)")
    p.add_argument("--sample-out", default=None,
                   help="write the quick-start sample caption file here ('' to skip; default: the SD canary writes "
                        "audit/assets/sample_captions.txt)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core machine)")
    args = p.parse_args()
    if args.tokenizer and args.family != "sd":
        p.error("--tokenizer applies to the SD canary only")
    if args.lora and (args.family != "sd" or args.tokenizer):
        p.error("--lora trains on the bundled SD canary: it takes neither --family sdxl nor --tokenizer")
    return args


def train_into(args: argparse.Namespace, cfg, data, out: Path) -> dict:
    """Build the family's tokenizers, train, and copy the trained pipeline folder to `out`; training stats."""
    from audit.canary.tokenizer import fetch_merges_gz, write_clip_tokenizer
    from audit.canary.train import train
    from audit.model.loader import DEFAULT_MODEL

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tokenizers = [tmp / "tokenizer"]
        if cfg.base:  # a LoRA on the base pipeline keeps its tokenizer
            tokenizers = [Path(cfg.base) / "tokenizer"]
        elif args.tokenizer:
            shutil.copytree(args.tokenizer, tmp / "tokenizer")
        elif args.family in ("sdxl", "sd3"):  # two tokenizers share a vocabulary; the second pads with "!"
            merges = Path(args.bpe_merges) if args.bpe_merges else Path(DEFAULT_MODEL) / "tokenizer" / "merges.txt"
            tokenizers.append(tmp / "tokenizer_2")
            max_length = SD3_TOKENS if args.family == "sd3" else 77
            for folder, pad in zip(tokenizers, ("<|endoftext|>", "!")):
                write_clip_tokenizer(merges, folder, SDXL_VOCAB, pad, max_length)
        else:
            merges = Path(args.bpe_merges) if args.bpe_merges else fetch_merges_gz(tmp / "bpe.txt.gz")
            write_clip_tokenizer(merges, tmp / "tokenizer")
        logging.getLogger("train_canary").info(
            "training %d steps (%s): %d duplicated, %d seen-once, %d never-seen texture pairs", cfg.steps, cfg.family,
            len(data.duplicated), len(data.seen_once), len(data.never_seen))
        stats = train(cfg, data, tokenizers, tmp / "run")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(tmp / "run" / f"step-{cfg.steps}", out)
    return stats


def main() -> int:
    if any(os.environ.get(k) != v for k, v in ALLOCATOR_ENV.items()):
        # glibc must keep freed memory or training steps get 5-20x slower; it reads these only at start.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **ALLOCATOR_ENV})
    args = parse_args()
    # `python jobs/X.py` puts jobs/, not the checkout, on sys.path: import this checkout's `audit` even when not installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import torch

    from audit.canary.build import calibrate, lora_detection, sampling_check, write_labels, write_sample_captions
    from audit.canary.data import make_canary_data
    from audit.canary.lora import LORA_FILE, LORA_RANK
    from audit.canary.readme import write_lora_readme, write_readme
    from audit.canary.train import TrainConfig
    from audit.model.lora_spec import LoraSpec

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    log = logging.getLogger("train_canary")
    torch.set_num_threads(args.threads)
    defaults = TrainConfig()
    if args.lora:
        cfg = TrainConfig(seed=args.seed + LORA_DATA_OFFSET, steps=args.steps or LORA_STEPS, base=FAMILIES["sd"],
                          lora_rank=LORA_RANK, lr=LORA_LR, duplicate_fraction=LORA_DUPLICATE_FRACTION,
                          fresh_fraction=LORA_FRESH_FRACTION)
    else:
        cfg = TrainConfig(seed=args.seed, steps=args.steps or defaults.steps, family=args.family)
    cfg.checkpoint_every = cfg.steps
    out = Path(args.out or (LORA_OUT if args.lora else FAMILIES[args.family]))
    sample_out = args.sample_out
    if sample_out is None:  # the quick-start sample belongs to the default (SD) canary
        sample_out = "audit/assets/sample_captions.txt" if args.family == "sd" and not args.lora else ""
    start = time.time()
    n_dup = args.duplicated or (LORA_DUPLICATED if args.lora else defaults.duplicated)
    data = make_canary_data(cfg.seed, n_dup, args.seen_once, args.never_seen)
    if args.lora:
        base_captions = {json.loads(line)["caption"] for line in open(Path(cfg.base) / "labels" / "captions.jsonl")}
        if base_captions & {p.caption for p in data.duplicated + data.seen_once + data.never_seen}:
            raise SystemExit("some LoRA canary captions are the base canary's: choose another --seed")
    recipe = {**cfg.__dict__, "duplicated": len(data.duplicated), "seen_once": len(data.seen_once),
              "never_seen": len(data.never_seen)}
    if args.skip_training:
        stats = json.loads((out / "build_summary.json").read_text())["training"]
    else:
        stats = train_into(args, cfg, data, out)
        (out / "build_summary.json").write_text(json.dumps({"recipe": recipe, "training": stats}, indent=2))
    log.info("trained in %.0f s; sampling check", stats["train_seconds"])
    loras = [LoraSpec(str(out / LORA_FILE))] if args.lora else []
    check = sampling_check(Path(cfg.base) if args.lora else out, data, cfg.seed, loras)
    memorized, clean = write_labels(out, data, check, stats["repeats_per_duplicated_pair"])
    log.info("labelled %d memorized, %d clean; calibrating", len(memorized), len(clean))
    if not memorized:
        raise SystemExit("no duplicated caption was memorized: train longer (--steps)")
    if args.lora:
        detection = lora_detection(Path(cfg.base), loras, memorized, clean)
    else:
        detection = calibrate(out, memorized, clean, "canary" if args.family == "sd" else args.family)
    if sample_out:
        write_sample_captions(Path(sample_out), memorized, clean, args.seed)
    summary = {"recipe": recipe, "training": stats, "sampling_check": check["figures"], "detection_n1": detection,
               "total_seconds": round(time.time() - start + (stats["train_seconds"] if args.skip_training else 0), 1)}
    if args.lora:
        summary["adapter_bytes"] = (out / LORA_FILE).stat().st_size
    (out / "build_summary.json").write_text(json.dumps(summary, indent=2))
    (write_lora_readme if args.lora else write_readme)(out, summary)
    log.info("done in %.0f s: %s", time.time() - start, json.dumps(check["figures"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
