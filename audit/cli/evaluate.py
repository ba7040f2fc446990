"""`evaluate`: detection quality on known memorized vs clean captions; fits a weights profile."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from audit.cli.options import add_model_options, stage_from_args
from audit.lines import safe_lines
from audit.scoring.profiles import Profile

log = logging.getLogger(__name__)


def register(commands) -> None:
    p = commands.add_parser(
        "evaluate", help="measure detection on labelled captions and fit a profile",
        description="Score known memorized and known clean captions, print AUC and TPR at 1%/3% FPR for the "
                    "combined score, the norm term alone (Wen et al.) and the cosine term alone, fit the two "
                    "weights (logistic regression) and a threshold at --fpr, and write evaluation.json, "
                    "profile.json (for `score --profile`), scores.parquet and roc.png into --output. "
                    "Reproduce the paper's Table 1 with real SD 1.4 weights: "
                    "evaluate --model CompVis/stable-diffusion-v1-4 --memorized sd1_mem.txt --clean sd1_nmem.txt")
    p.add_argument("--memorized", required=True, help="caption file of known memorized captions")
    p.add_argument("--clean", required=True, help="caption file of known non-memorized captions")
    p.add_argument("--caption-column", default=None, help="caption field/column of both files")
    p.add_argument("--output", "-o", default="evaluation", help="output folder (default evaluation)")
    p.add_argument("--fpr", type=float, default=0.01,
                   help="target false-positive rate of the fitted threshold (default 0.01)")
    add_model_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from audit.evaluation.plot import plot_score_rocs
    from audit.evaluation.run import evaluate_scores, labelled_scores
    from audit.readers.dispatch import read_captions

    if not 0 < args.fpr < 1:
        raise ValueError(f"--fpr must be between 0 and 1, got {args.fpr}")
    memorized, clean = read_captions(args.memorized, args.caption_column), read_captions(args.clean, args.caption_column)
    stage = stage_from_args(args)
    stage.setup()
    scores = labelled_scores(stage, memorized, clean)
    report = evaluate_scores(scores, stage.weights, args.fpr)
    meta = stage.metadata()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    fitted = report["fitted_profile"]
    model = Path(meta["model"]).name + "".join(f"+{Path(a['path']).name}:{a['scale']:g}" for a in meta.get("adapters", []))
    profile = Profile(name=f"fitted:{model}", w_norm=fitted["w_norm"], w_cos=fitted["w_cos"],
                      threshold=fitted["threshold"], clean_median=fitted["clean_median"],
                      source=f"evaluate on {args.memorized} vs {args.clean}, n={args.generations}, seed={args.seed}, "
                             f"threshold at {args.fpr:.2%} FPR")
    (out / "profile.json").write_text(profile.to_json())
    (out / "evaluation.json").write_text(json.dumps(report | {"score_parameters": meta}, indent=2))
    scores.to_parquet(out / "scores.parquet", index=False)
    plot_score_rocs(scores, out / "roc.png", f"{model}, n={args.generations}")
    lines = [f"{report['n_memorized']} memorized vs {report['n_clean']} clean captions, n={args.generations}",
             f"{'score':<72} {'AUC':>6} {'TPR@1%':>7} {'TPR@3%':>7} {'paper-rule@1%':>14}"]
    lines += [f"{name:<72} {m['auc']:6.3f} {m['tpr@1%fpr']:7.3f} {m['tpr@3%fpr']:7.3f} "
              f"{m['authors_rule_tpr@closest_1%fpr']:14.3f}" for name, m in report["results"].items()]
    lines.append(f"fitted profile: norm {fitted['w_norm']:.4g}, cos {fitted['w_cos']:.4g}, threshold "
                 f"{fitted['threshold']:.4g}, clean median {fitted['clean_median']:.4g} -> {out / 'profile.json'}")
    print(safe_lines("\n".join(lines)))
    return 0
