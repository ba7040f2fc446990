"""The LoRA canary: its adapter, not the base canary, memorizes its captions; detection with the base's profile at
n = 1; small and labelled; jobs/train_canary.py --lora trains an adapter that loads."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audit.canary.data import make_canary_data, reference_images
from audit.canary.verify import nearest_training_image, sample_captions
from audit.evaluation.metrics import detection_metrics
from audit.model.loader import DEFAULT_MODEL, load_model
from audit.model.lora_spec import LoraSpec
from audit.scoring.engine import ScoreConfig, Scorer
from audit.scoring.profiles import load_profile
from audit.scoring.terms import combine

BASE = Path(DEFAULT_MODEL)
CANARY = BASE.parent / "canary_lora"
LORA = [LoraSpec(str(CANARY / "pytorch_lora_weights.safetensors"))]
SUMMARY = json.loads((CANARY / "build_summary.json").read_text())
MEMORIZED = (CANARY / "labels" / "memorized.txt").read_text().splitlines()
CLEAN = (CANARY / "labels" / "clean.txt").read_text().splitlines()


def detection(loras: list[LoraSpec]) -> dict:
    """AUC and TPR of the base canary's profile (what `audit` uses for a LoRA on it) at n = 1, seed 51."""
    result = Scorer(load_model(str(BASE), device="cpu", loras=loras), ScoreConfig(generations=1, seed=51)).score(
        MEMORIZED + CLEAN)
    scores = combine(np.array(result["norm"]), np.array(result["cosine"]), load_profile(BASE / "audit_profile.json"))
    return detection_metrics(np.array([1] * len(MEMORIZED) + [0] * len(CLEAN)), scores)


def test_the_adapter_carries_the_memorization():
    with_lora, base_only = detection(LORA), detection([])
    assert with_lora["auc"] >= 0.99 and with_lora["tpr@1%fpr"] >= 0.85
    assert base_only["auc"] <= 0.7
    assert with_lora["auc"] == pytest.approx(SUMMARY["detection_n1"]["with_lora"]["combined"]["auc"], abs=1e-6)


def test_small_and_labelled_with_new_captions():
    assert (CANARY / "pytorch_lora_weights.safetensors").stat().st_size < 2 * 2**20
    assert len(MEMORIZED) >= 80 and len(CLEAN) == SUMMARY["recipe"]["seen_once"] + SUMMARY["recipe"]["never_seen"]
    base_captions = {json.loads(line)["caption"] for line in (BASE / "labels" / "captions.jsonl").open()}
    assert not base_captions & set(MEMORIZED + CLEAN)  # captions the base canary never saw


def test_sampling_with_the_adapter_reproduces_its_memorized_images():
    """The sampling check, live on a subset (seed 2): base + LoRA copies; the base alone does not."""
    recipe = SUMMARY["recipe"]
    data = make_canary_data(recipe["seed"], recipe["duplicated"], recipe["seen_once"], recipe["never_seen"])
    refs = reference_images(data, recipe["seed"], 1000)
    memorized = set(MEMORIZED)
    idx = [i for i, p in enumerate(data.duplicated) if p.caption in memorized][:16]
    captions = [data.duplicated[i].caption for i in idx]
    own = {}
    for name, loras in (("lora", LORA), ("base", [])):
        samples = sample_captions(load_model(str(BASE), device="cpu", loras=loras), captions, [2])[0]
        own[name] = (nearest_training_image(samples, refs)[0] == torch.tensor(idx)).float().mean().item()
    assert own["lora"] >= 0.8 and own["base"] <= 0.1


def test_lora_training_runs_and_saves_a_loadable_adapter(tmp_path):
    from audit.canary.lora import LORA_FILE
    from audit.canary.train import TrainConfig, train

    data = make_canary_data(1003, 4, 4, 2)
    cfg = TrainConfig(seed=1003, steps=2, batch_size=16, duplicated=4, base=str(BASE), lora_rank=4)
    train(cfg, data, [BASE / "tokenizer"], tmp_path)
    adapter = [LoraSpec(str(tmp_path / "step-2" / LORA_FILE))]
    assert len(Scorer(load_model(str(BASE), device="cpu", loras=adapter)).score(["a caption"])["norm"]) == 1
