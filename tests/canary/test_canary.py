"""The bundled canaries (SD-shaped, SDXL-shaped and SD3-shaped flow matching): labelled sets, memorization verified
by sampling, detection quality at n = 1."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audit.canary.data import make_canary_data, reference_images, scene
from audit.canary.verify import nearest_training_image, sample_captions
from audit.cli.main import main
from audit.evaluation.metrics import detection_metrics
from audit.model.loader import DEFAULT_MODEL, load_model
from audit.scoring.engine import ScoreConfig, Scorer
from audit.scoring.profiles import load_profile
from audit.scoring.terms import combine

CANARIES = {"sd": Path(DEFAULT_MODEL), "sdxl": Path(DEFAULT_MODEL).parent / "canary_sdxl",
            "sd3": Path(DEFAULT_MODEL).parent / "canary_sd3"}


@pytest.fixture(params=list(CANARIES))
def canary(request) -> Path:
    return CANARIES[request.param]


def summary(canary: Path) -> dict:
    return json.loads((canary / "build_summary.json").read_text())


def lines(canary: Path, name: str) -> list[str]:
    return (canary / "labels" / name).read_text().splitlines()


def test_labelled_sets_are_large_enough_and_consistent(canary):
    memorized, clean = lines(canary, "memorized.txt"), lines(canary, "clean.txt")
    records = [json.loads(line) for line in (canary / "labels" / "captions.jsonl").read_text().splitlines()]
    assert len(memorized) >= 100 and len(clean) >= 300
    roles = {r["caption"]: r for r in records}
    assert all(roles[c]["role"] == "duplicated" and roles[c]["memorized"] for c in memorized)
    assert {roles[c]["role"] for c in clean} == {"seen_once", "never_seen"}
    assert not set(memorized) & set(clean)
    assert all(len(r["unique_words"]) == 2 and all(w in r["caption"].split() for w in r["unique_words"])
               for r in records)


def test_readme_states_the_sampling_check(canary):
    figures = summary(canary)["sampling_check"]
    assert figures["check_seed_memorized_nearest_own"] >= 0.8
    assert figures["check_seed_seen_once_nearest_own"] <= 0.05
    readme = (canary / "README.md").read_text()
    assert f"{figures['check_seed_memorized_nearest_own']:.1%}" in readme


def test_sampling_reproduces_memorized_images_and_not_others(canary):
    """Re-run the check live on a subset: DDIM 50 steps (flow: Euler 28), guidance 7.5, the README's independent seed."""
    recipe = summary(canary)["recipe"]
    seed = recipe["seed"]
    data = make_canary_data(seed, recipe["duplicated"], recipe["seen_once"], recipe["never_seen"])
    memorized = set(lines(canary, "memorized.txt"))
    textures = data.duplicated + data.seen_once
    refs = reference_images(data, seed, 1000)
    mem_idx = [i for i, p in enumerate(data.duplicated) if p.caption in memorized][:16]
    once_idx = list(range(len(data.duplicated), len(data.duplicated) + 16))
    model = load_model(str(canary), device="cpu")
    samples = sample_captions(model, [textures[i].caption for i in mem_idx + once_idx], [2])[0]
    nearest, _ = nearest_training_image(samples, refs)
    own = (nearest == torch.tensor(mem_idx + once_idx)).tolist()
    assert sum(own[:16]) / 16 >= 0.8
    assert sum(own[16:]) / 16 <= 0.1


def test_calibrated_combined_score_meets_the_detection_bar(canary):
    """The acceptance bar at n = 1: AUC >= 0.99 and TPR@1%FPR >= 0.85 for the shipped (calibrated) profile."""
    memorized, clean = lines(canary, "memorized.txt"), lines(canary, "clean.txt")
    result = Scorer(load_model(str(canary), device="cpu"), ScoreConfig(generations=1, seed=51)).score(memorized + clean)
    scores = combine(np.array(result["norm"]), np.array(result["cosine"]), load_profile(canary / "audit_profile.json"))
    labels = np.array([1] * len(memorized) + [0] * len(clean))
    metrics = detection_metrics(labels, scores)
    assert metrics["auc"] >= 0.99 and metrics["tpr@1%fpr"] >= 0.85
    reported = summary(canary)["detection_n1"]
    assert metrics["auc"] == pytest.approx(reported["fitted"]["auc"], abs=1e-6)
    for term in ("norm", "cosine"):  # each term alone, as the README reports it
        assert detection_metrics(labels, np.array(result[term])) == pytest.approx(reported[term], abs=1e-6)


def test_readme_reports_each_term_alone(canary):
    reported, readme = summary(canary)["detection_n1"], (canary / "README.md").read_text()
    for name, term in (("norm alone (Wen et al.)", "norm"), ("cosine alone", "cosine")):
        assert f"| {name} | {reported[term]['auc']:.3f} | {reported[term]['tpr@1%fpr']:.3f} |" in readme


def test_evaluate_on_the_canary_meets_the_detection_bar(canary, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--memorized", str(canary / "labels/memorized.txt"), "--clean",
                 str(canary / "labels/clean.txt"), "--generations", "1", "-o", str(out), "--model", str(canary)]) == 0
    stdout = capsys.readouterr().out
    report = json.loads((out / "evaluation.json").read_text())
    bundled = load_profile(canary / "audit_profile.json")
    calibrated = next(v for k, v in report["results"].items() if k.startswith(f"combined ({bundled.name}"))
    assert calibrated["auc"] >= 0.99 and calibrated["tpr@1%fpr"] >= 0.85
    assert {k.split(" (")[0] for k in report["results"]} >= {"combined", "norm alone", "cosine alone"}
    assert (out / "roc.png").stat().st_size > 10_000
    fitted = load_profile(out / "profile.json")
    assert fitted.threshold is not None and fitted.w_norm == 1.0
    # the same fit on the same labels: the same clean median
    assert fitted.clean_median == pytest.approx(bundled.clean_median, rel=1e-3) and fitted.clean_median < fitted.threshold
    assert "TPR@1%" in stdout and "cosine alone" in stdout


def assert_small(canary: Path) -> None:
    assert sum(f.stat().st_size for f in canary.rglob("*") if f.is_file()) <= 10 * 2**20
    assert not list(canary.rglob("*.bin")) and not list(canary.rglob("*.pt"))
    assert not list(canary.glob("step-*"))


def test_sdxl_canary_is_sdxl_shaped_and_small():
    canary = CANARIES["sdxl"]
    index = json.loads((canary / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLPipeline" and index["force_zeros_for_empty_prompt"] is True
    assert json.loads((canary / "unet/config.json").read_text())["addition_embed_type"] == "text_time"
    assert load_profile(canary / "audit_profile.json").name == "sdxl"
    assert_small(canary)


def test_sd3_canary_is_an_sd3_flow_pipeline_without_t5_and_small():
    canary = CANARIES["sd3"]
    index = json.loads((canary / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusion3Pipeline" and index["text_encoder_3"] == [None, None]
    model = load_model(str(canary), device="cpu")
    assert model.prediction_type == "flow" and model.text.family == "sd3" and len(model.text.encoders) == 2
    assert load_profile(canary / "audit_profile.json").name == "sd3"
    assert_small(canary)
    assert summary(canary)["total_seconds"] < 30 * 60  # rebuilt, sampling check and calibration included, in 30 minutes
    # its CLIP limit is under 77 (a shorter joint sequence): every caption of its data fits untruncated
    recipe = summary(canary)["recipe"]
    data = make_canary_data(recipe["seed"], recipe["duplicated"], recipe["seen_once"], recipe["never_seen"])
    captions = [p.caption for p in data.duplicated + data.seen_once + data.never_seen]
    captions += [scene(i, recipe["seed"])[0] for i in range(2000)]
    counts = model.text.tokenize(captions)[1]
    assert model.text.max_length < 77 and max(counts) <= model.text.max_length


@pytest.mark.parametrize("family", list(CANARIES))
def test_training_runs_and_saves_a_loadable_pixel_space_pipeline(family, tmp_path):
    from audit.canary.train import TrainConfig, train

    canary = CANARIES[family]
    tokenizers = [canary / "tokenizer"] + ([canary / "tokenizer_2"] if family != "sd" else [])
    data = make_canary_data(3, 4, 4, 2)
    stats = train(TrainConfig(seed=3, steps=2, batch_size=16, duplicated=4, family=family), data, tokenizers, tmp_path)
    assert stats["repeats_per_duplicated_pair"] == 4  # 50% of 32 samples over 4 pairs
    model = load_model(str(tmp_path / "step-2"), device="cpu")
    assert model.latent_shape == (3, 8, 8) and model.text.family == family
    assert len(Scorer(model).score(["a caption"])["norm"]) == 1
