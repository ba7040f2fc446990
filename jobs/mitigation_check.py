"""Measure mitigation on the canary's memorized captions: success rates, seconds, image similarity.

    python jobs/mitigation_check.py [--limit N]

Copy = the nearest training image of a DDIM sample (50 steps, guidance 7.5, the canary README's check
seed 2) is the caption's own image; similarity = cosine of pixels to the own image.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# `python jobs/X.py` puts jobs/, not the checkout, on sys.path: import this checkout's `audit` even when not installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from audit.canary.data import make_canary_data, reference_images  # noqa: E402
from audit.canary.verify import nearest_training_image, own_image_similarity  # noqa: E402
from audit.mitigation.stage import MitigationStage  # noqa: E402
from audit.model.loader import DEFAULT_MODEL  # noqa: E402
from audit.sampling.ddim import ddim_sample  # noqa: E402
from audit.scoring.stage import ScoreStage  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=None, help="only the first N memorized captions")
    p.add_argument("--out", default="/tmp/mitigation_check", help="folder for embeddings and results")
    args = p.parse_args()
    torch.set_num_threads(1)
    canary = Path(DEFAULT_MODEL)
    summary = json.loads((canary / "build_summary.json").read_text())["recipe"]
    memorized = (canary / "labels/memorized.txt").read_text().splitlines()[: args.limit]
    clean = (canary / "labels/clean.txt").read_text().splitlines()
    scoring = ScoreStage(device="cpu")
    scoring.setup()
    typical = float(scoring.process(pd.DataFrame({"caption": clean}))["score"].median())
    stage = MitigationStage(scoring, scoring.weights.threshold, args.out + "/embeddings", target=typical)
    stage.setup()
    frame = pd.DataFrame({"row_id": range(len(memorized)), "caption": memorized, "score": stage._score(memorized)})
    out = stage.process(frame)
    data = make_canary_data(summary["seed"], summary["duplicated"], summary["seen_once"], summary["never_seen"])
    textures = data.duplicated + data.seen_once
    refs = reference_images(data, summary["seed"], 5000)
    own = torch.tensor([[t.caption for t in textures].index(c) for c in memorized])
    model, uncond = stage.scorer.model, stage.scorer.uncond_states
    noise = torch.randn((1, *model.latent_shape), generator=torch.Generator().manual_seed(2))
    noise = noise.expand(len(memorized), -1, -1, -1).contiguous()

    def measure(states: torch.Tensor) -> dict:
        samples = ddim_sample(model.unet, model.scheduler_config, states, uncond, noise)
        sim = own_image_similarity(samples, refs[own])
        return {"copy_rate": float((nearest_training_image(samples, refs)[0] == own).float().mean()),
                "own_similarity": float(sim.mean())}

    figures = {
        "captions": len(memorized), "threshold": stage.threshold, "target": typical,
        "flagged_before": float((frame["score"] > stage.threshold).mean()),
        "before": measure(stage.scorer.caption_states(memorized)),
        "embedding": measure(torch.cat([load_file(f)["prompt_embeds"] for f in out["embedding_file"]])),
        "rewrite": measure(stage.scorer.caption_states(out["suggested_caption"].tolist())),
        "embedding_under_threshold": float(out["embedding_converged"].mean()),
        "rewrite_under_threshold": float(out["rewrite_converged"].mean()),
        "mean_edits": float(out["edits"].mean()), "mean_embedding_steps": float(out["embedding_steps"].mean()),
        "seconds_per_caption": {k: float(out[f"seconds_{k}"].mean()) for k in ("triggers", "rewrite", "embedding")},
    }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
