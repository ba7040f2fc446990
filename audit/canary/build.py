"""Label, calibrate and document a trained canary: the sampling check decides which captions are memorized."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from audit.canary.data import CanaryData, reference_images, scene
from audit.canary.verify import nearest_training_image, own_image_similarity, sample_captions
from audit.evaluation.calibrate import fit_weights, threshold_at_fpr
from audit.evaluation.metrics import detection_metrics
from audit.model.loader import load_model
from audit.model.lora_spec import LoraSpec
from audit.scoring.engine import ScoreConfig, Scorer
from audit.scoring.profiles import BUILTIN, PROFILE_FILE, Profile, load_profile
from audit.scoring.terms import combine

LABEL_SEEDS, CHECK_SEED, N_SCENE_REFERENCES = (0, 1), 2, 5000


def sampling_check(folder: Path, data: CanaryData, seed: int, loras: Sequence[LoraSpec] = ()) -> dict:
    """Sample every texture caption (of the pipeline with `loras` applied); label duplicated pairs memorized when both
    label seeds copy their image. A third, independent seed measures the reproduction rate of the labelled sets.
    """
    model = load_model(str(folder), device="cpu", loras=loras)
    refs = reference_images(data, seed, N_SCENE_REFERENCES)
    dup_caps = [p.caption for p in data.duplicated]
    labelled = sample_captions(model, dup_caps, list(LABEL_SEEDS))
    own_idx = torch.arange(len(dup_caps))
    copies = torch.stack([nearest_training_image(s, refs)[0] == own_idx for s in labelled])
    memorized = copies.all(dim=0)
    check_caps = dup_caps + [p.caption for p in data.seen_once] + [p.caption for p in data.never_seen]
    check = sample_captions(model, check_caps, [CHECK_SEED])[0]
    idx, best = nearest_training_image(check, refs)
    n_dup, n_once = len(data.duplicated), len(data.seen_once)
    own = torch.arange(n_dup + n_once)
    own_sim = own_image_similarity(check[: n_dup + n_once], refs[: n_dup + n_once])
    nearest_own = idx[: n_dup + n_once] == own
    mem = memorized.numpy()
    return {
        "memorized": mem.tolist(),
        "nearest_own": nearest_own.tolist(),
        "own_similarity": own_sim.tolist(),
        "never_seen_best_similarity": best[n_dup + n_once :].tolist(),
        "figures": {
            "duplicated_pairs": n_dup,
            "label_seeds_copy_rate": [float(c.float().mean()) for c in copies],
            "labelled_memorized": int(mem.sum()),
            "check_seed_memorized_nearest_own": float(nearest_own[:n_dup][memorized].float().mean()),
            "check_seed_memorized_own_similarity": float(own_sim[:n_dup][memorized].mean()),
            "check_seed_seen_once_nearest_own": float(nearest_own[n_dup:].float().mean()),
            "check_seed_seen_once_own_similarity": float(own_sim[n_dup:].mean()),
            "check_seed_never_seen_best_similarity": float(best[n_dup + n_once :].mean()),
        },
    }


def write_labels(folder: Path, data: CanaryData, check: dict, repeats: int) -> tuple[list[str], list[str]]:
    """labels/memorized.txt, labels/clean.txt (seen once + never seen) and labels/captions.jsonl with details."""
    labels = folder / "labels"
    labels.mkdir(exist_ok=True)
    memorized = [p.caption for p, m in zip(data.duplicated, check["memorized"]) if m]
    clean = [p.caption for p in data.seen_once + data.never_seen]
    (labels / "memorized.txt").write_text("\n".join(memorized) + "\n")
    (labels / "clean.txt").write_text("\n".join(clean) + "\n")
    n_dup = len(data.duplicated)
    with open(labels / "captions.jsonl", "w") as f:
        for role, pairs, times in (("duplicated", data.duplicated, repeats), ("seen_once", data.seen_once, 1),
                                   ("never_seen", data.never_seen, 0)):
            for i, p in enumerate(pairs):
                k = i if role == "duplicated" else n_dup + i
                rec = {"caption": p.caption, "role": role, "times_in_training": times, "unique_words": p.unique_words,
                       "memorized": bool(check["memorized"][i]) if role == "duplicated" else False}
                if role != "never_seen":
                    rec |= {"check_nearest_is_own": bool(check["nearest_own"][k]),
                            "check_own_similarity": round(check["own_similarity"][k], 4)}
                f.write(json.dumps(rec) + "\n")
    return memorized, clean


def calibrate(folder: Path, memorized: list[str], clean: list[str], name: str = "canary") -> dict:
    """Fit the canary's weights at n = 1, seed 51 and write audit_profile.json (profile `name`) with a 1% FPR threshold."""
    scorer = Scorer(load_model(str(folder), device="cpu"), ScoreConfig(generations=1, seed=51))
    res = scorer.score(memorized + clean)
    n, c = np.array(res["norm"]), np.array(res["cosine"])
    y = np.array([1] * len(memorized) + [0] * len(clean))
    fitted = fit_weights(n, c, y)
    s = combine(n, c, fitted)
    profile = Profile(name, fitted.w_norm, fitted.w_cos, threshold_at_fpr(s[y == 0], 0.01),
                      "calibrated by jobs/train_canary.py on labels/ at n=1, seed 51; threshold at 1% FPR",
                      clean_median=float(np.median(s[y == 0])))
    (folder / PROFILE_FILE).write_text(profile.to_json())
    return {"fitted": detection_metrics(y, s), "paper_sd1": detection_metrics(y, combine(n, c, BUILTIN["sd1"])),
            "norm": detection_metrics(y, n), "cosine": detection_metrics(y, c),
            "weights": [fitted.w_norm, fitted.w_cos], "threshold": profile.threshold}


def lora_detection(base: Path, loras: Sequence[LoraSpec], memorized: list[str], clean: list[str]) -> dict:
    """Detection at n = 1, seed 51 with the base's own profile (what `audit` uses for a LoRA on it), with the adapters
    applied and without them (the base alone must not separate the captions the adapters memorized)."""
    weights = load_profile(str(base / PROFILE_FILE))
    y = np.array([1] * len(memorized) + [0] * len(clean))
    figures = {}
    for name, applied in (("with_lora", loras), ("base_only", ())):
        res = Scorer(load_model(str(base), device="cpu", loras=applied), ScoreConfig(generations=1, seed=51)).score(
            memorized + clean)
        n, c = np.array(res["norm"]), np.array(res["cosine"])
        figures[name] = {"combined": detection_metrics(y, combine(n, c, weights)), "norm": detection_metrics(y, n),
                         "cosine": detection_metrics(y, c)}
    return figures | {"weights": [weights.w_norm, weights.w_cos]}


def write_sample_captions(path: Path, memorized: list[str], clean: list[str], seed: int) -> None:
    """A small quick-start input: some memorized and clean canary captions, scenes, and rows that cannot be scored."""
    rng = np.random.default_rng(seed)
    rows = list(rng.choice(memorized, min(10, len(memorized)), replace=False))
    rows += list(rng.choice(clean, min(30, len(clean)), replace=False))
    rows += [scene(i, seed + 1)[0] for i in range(10)]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    rows += ["", "   ", "an emoji caption \U0001F600 with a bell \x07", "word " * 100]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
