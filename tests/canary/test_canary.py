"""The bundled canary: labelled sets, memorization verified by sampling, detection quality at n = 1."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audit.canary.data import make_canary_data, reference_images
from audit.canary.verify import nearest_training_image, sample_captions
from audit.model.loader import DEFAULT_MODEL, load_model
from audit.scoring.profiles import load_profile

CANARY = Path(DEFAULT_MODEL)
SUMMARY = json.loads((CANARY / "build_summary.json").read_text())
RECORDS = [json.loads(line) for line in (CANARY / "labels" / "captions.jsonl").read_text().splitlines()]


def lines(name: str) -> list[str]:
    return (CANARY / "labels" / name).read_text().splitlines()


def test_labelled_sets_are_large_enough_and_consistent():
    memorized, clean = lines("memorized.txt"), lines("clean.txt")
    assert len(memorized) >= 100 and len(clean) >= 300
    roles = {r["caption"]: r for r in RECORDS}
    assert all(roles[c]["role"] == "duplicated" and roles[c]["memorized"] for c in memorized)
    assert {roles[c]["role"] for c in clean} == {"seen_once", "never_seen"}
    assert not set(memorized) & set(clean)
    assert all(len(r["unique_words"]) == 2 and all(w in r["caption"].split() for w in r["unique_words"])
               for r in RECORDS)


def test_readme_states_the_sampling_check():
    figures = SUMMARY["sampling_check"]
    assert figures["check_seed_memorized_nearest_own"] >= 0.8
    assert figures["check_seed_seen_once_nearest_own"] <= 0.05
    readme = (CANARY / "README.md").read_text()
    assert f"{figures['check_seed_memorized_nearest_own']:.1%}" in readme


def test_sampling_reproduces_memorized_images_and_not_others():
    """Re-run the check live on a subset: DDIM 50 steps, guidance 7.5, the README's independent seed."""
    seed = SUMMARY["recipe"]["seed"]
    data = make_canary_data(seed, SUMMARY["recipe"]["duplicated"], SUMMARY["recipe"]["seen_once"],
                            SUMMARY["recipe"]["never_seen"])
    memorized = set(lines("memorized.txt"))
    textures = data.duplicated + data.seen_once
    refs = reference_images(data, seed, 1000)
    mem_idx = [i for i, p in enumerate(data.duplicated) if p.caption in memorized][:16]
    once_idx = list(range(len(data.duplicated), len(data.duplicated) + 16))
    model = load_model(str(CANARY), device="cpu")
    samples = sample_captions(model, [textures[i].caption for i in mem_idx + once_idx], [2])[0]
    nearest, _ = nearest_training_image(samples, refs)
    own = (nearest == torch.tensor(mem_idx + once_idx)).tolist()
    assert sum(own[:16]) / 16 >= 0.8
    assert sum(own[16:]) / 16 <= 0.1


def test_evaluate_on_the_canary_meets_the_detection_bar(tmp_path):
    out = tmp_path / "eval"
    result = subprocess.run([sys.executable, "-m", "audit", "evaluate", "--memorized", str(CANARY / "labels/memorized.txt"),
                             "--clean", str(CANARY / "labels/clean.txt"), "--generations", "1", "-o", str(out)],
                            capture_output=True, text=True, timeout=600, env={"HF_HUB_OFFLINE": "1", "AUDIT_TORCH_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "evaluation.json").read_text())
    calibrated = next(v for k, v in report["results"].items() if k.startswith("combined (canary"))
    assert calibrated["auc"] >= 0.99 and calibrated["tpr@1%fpr"] >= 0.85
    assert {k.split(" (")[0] for k in report["results"]} >= {"combined", "norm alone", "cosine alone"}
    assert (out / "roc.png").stat().st_size > 10_000
    fitted = load_profile(out / "profile.json")
    assert fitted.threshold is not None and fitted.w_norm == 1.0
    bundled = load_profile(CANARY / "audit_profile.json")  # the same fit on the same labels: the same clean median
    assert fitted.clean_median == pytest.approx(bundled.clean_median, rel=1e-3) and fitted.clean_median < fitted.threshold
    assert "TPR@1%" in result.stdout and "cosine alone" in result.stdout


def test_training_runs_and_saves_a_loadable_pixel_space_pipeline(tmp_path):
    from audit.canary.train import TrainConfig, train
    from audit.scoring.engine import Scorer

    data = make_canary_data(3, 4, 4, 2)
    stats = train(TrainConfig(seed=3, steps=2, batch_size=16, duplicated=4), data, CANARY / "tokenizer", tmp_path)
    assert stats["repeats_per_duplicated_pair"] == 4  # 50% of 32 samples over 4 pairs
    model = load_model(str(tmp_path / "step-2"), device="cpu")
    assert model.latent_shape == (3, 8, 8)
    assert len(Scorer(model).score(["a caption"])["norm"]) == 1
