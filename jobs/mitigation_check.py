"""Measure mitigation on the canary through `scan --mitigate`: success rates, seconds, image copies.

    python jobs/mitigation_check.py                                             # the 129 memorized captions
    python jobs/mitigation_check.py --captions audit/assets/sample_captions.txt # the bundled sample

Scans the captions with the canary on a local Ray, mitigates the flagged rows with the default target,
then samples. Copy = the nearest training image of a DDIM sample (50 steps, guidance 7.5, the canary
README's check seed 2) is the caption's own image; only flagged rows with an own training image count.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

# `python jobs/X.py` puts jobs/, not the checkout, on sys.path: import this checkout's `audit` even when not installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from audit.canary.data import make_canary_data, reference_images  # noqa: E402
from audit.canary.verify import nearest_training_image, own_image_similarity  # noqa: E402
from audit.cli.main import main as audit  # noqa: E402
from audit.model.conditioning import TextStates  # noqa: E402
from audit.model.loader import DEFAULT_MODEL  # noqa: E402
from audit.sampling.ddim import ddim_sample  # noqa: E402
from audit.scoring.stage import ScoreStage  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--captions", default=str(Path(DEFAULT_MODEL) / "labels/memorized.txt"), help="caption file")
    p.add_argument("--limit", type=int, default=None, help="only the first N captions")
    p.add_argument("--out", default="/tmp/mitigation_check", help="folder for the scan's run folder")
    p.add_argument("--batch-size", type=int, default=8, help="mitigation batch size")
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / "in.txt").write_text("\n".join(Path(args.captions).read_text().splitlines()[: args.limit]) + "\n")
    code = audit(["scan", str(out / "in.txt"), "-o", str(out / "run"), "--mitigate",
                  "--mitigation-batch-size", str(args.batch_size)])
    summary = json.loads((out / "run/summary.json").read_text())
    results = pd.read_parquet(out / "run/mitigations.parquet")

    canary = Path(DEFAULT_MODEL)
    recipe = json.loads((canary / "build_summary.json").read_text())["recipe"]
    data = make_canary_data(recipe["seed"], recipe["duplicated"], recipe["seen_once"], recipe["never_seen"])
    textures = [t.caption for t in data.duplicated + data.seen_once]
    refs = reference_images(data, recipe["seed"], 5000)
    own_rows = results[results["caption"].isin(textures) & results["status"].eq("ok")]
    own = torch.tensor([textures.index(c) for c in own_rows["caption"]])
    scoring = ScoreStage(device="cpu")
    scoring.setup()
    model, uncond = scoring.scorer.model, scoring.scorer.uncond_states
    noise = torch.randn((1, *model.latent_shape), generator=torch.Generator().manual_seed(2))
    noise = noise.expand(len(own_rows), -1, -1, -1).contiguous()

    def measure(states: TextStates) -> dict:
        samples = ddim_sample(model.unet, model.scheduler_config, states, uncond, noise)
        return {"copy_rate": float((nearest_training_image(samples, refs)[0] == own).float().mean()),
                "own_similarity": float(own_image_similarity(samples, refs[own]).mean())}

    embeds = [load_file(out / "run" / f)["prompt_embeds"] for f in own_rows["embedding_file"]]
    figures = {
        "captions": summary["rows_read"], "flagged": len(results), "exit_code": code,
        "flagged_with_own_training_image": len(own_rows), "mitigation": summary["mitigation"],
        "before": measure(scoring.scorer.caption_states(own_rows["caption"].tolist())),
        "embedding": measure(TextStates(torch.cat(embeds))),
        "rewrite": measure(scoring.scorer.caption_states(own_rows["suggested_caption"].tolist())),
        "embedding_under_threshold": float(results["embedding_converged"].mean()),
        "rewrite_under_threshold": float(results["rewrite_converged"].mean()),
        "mean_edits": float(results["edits"].mean()), "mean_embedding_steps": float(results["embedding_steps"].mean()),
        "seconds_per_caption": {k: float(results[f"seconds_{k}"].mean()) for k in ("triggers", "rewrite", "embedding")},
    }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
