"""Mitigation on the canary, whose memorized captions and their unique words are known."""
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from audit.canary.data import make_canary_data, reference_images
from audit.canary.verify import nearest_training_image
from audit.mitigation.attribution import leave_one_out
from audit.mitigation.rewrite import greedy_drop
from audit.mitigation.stage import MitigationStage
from audit.model.loader import DEFAULT_MODEL
from audit.sampling.ddim import ddim_sample
from audit.scoring.engine import ScoreConfig
from audit.scoring.stage import ScoreStage

CANARY = Path(DEFAULT_MODEL)
SUMMARY = json.loads((CANARY / "build_summary.json").read_text())
RECORDS = {r["caption"]: r for r in map(json.loads, (CANARY / "labels/captions.jsonl").read_text().splitlines())}
N_CHECK = 20


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    scoring = ScoreStage(device="cpu", config=ScoreConfig(generations=1, seed=51))
    scoring.setup()
    clean = (CANARY / "labels/clean.txt").read_text().splitlines()
    typical = float(pd.Series(scoring.process(pd.DataFrame({"caption": clean}))["score"]).median())
    stage = MitigationStage(scoring, scoring.weights.threshold, str(tmp_path_factory.mktemp("emb")), target=typical)
    stage.setup()
    return stage


@pytest.fixture(scope="module")
def memorized_results(stage):
    memorized = (CANARY / "labels/memorized.txt").read_text().splitlines()[:N_CHECK]
    frame = pd.DataFrame({"row_id": range(len(memorized)), "caption": memorized,
                          "score": stage._score(memorized)})
    return frame, stage.process(frame)


def test_memorized_captions_are_flagged_and_mitigated(stage, memorized_results):
    frame, out = memorized_results
    assert (frame["score"] > stage.threshold).mean() >= 0.85
    assert (out["status"] == "ok").all()
    assert out["embedding_converged"].mean() >= 0.95
    assert (out["embedding_score"] <= stage.threshold).mean() >= 0.95
    for f in out["embedding_file"]:
        assert load_file(f)["prompt_embeds"].shape[0] == 1


def test_adapted_embeddings_and_rewrites_stop_the_copy(stage, memorized_results):
    """DDIM 50 steps, guidance 7.5, the canary README's check seed; copy = nearest training image is own."""
    frame, out = memorized_results
    seed = SUMMARY["recipe"]["seed"]
    data = make_canary_data(seed, SUMMARY["recipe"]["duplicated"], SUMMARY["recipe"]["seen_once"],
                            SUMMARY["recipe"]["never_seen"])
    textures = data.duplicated + data.seen_once
    refs = reference_images(data, seed, 1000)
    own = torch.tensor([[p.caption for p in textures].index(c) for c in frame["caption"]])
    model = stage.scorer.model
    noise = torch.randn((1, *model.latent_shape), generator=torch.Generator().manual_seed(2)).expand(len(frame), -1, -1, -1)
    uncond = stage.scorer.uncond_states
    copies = lambda states: (nearest_training_image(ddim_sample(model.unet, model.scheduler_config, states, uncond,
                                                                noise.contiguous()), refs)[0] == own).float().mean()
    before = copies(stage.scorer.caption_states(frame["caption"].tolist()))
    adapted = copies(torch.cat([load_file(f)["prompt_embeds"] for f in out["embedding_file"]]))
    rewritten = copies(stage.scorer.caption_states(out["suggested_caption"].tolist()))
    assert before >= 0.8
    assert adapted <= 0.1
    assert rewritten <= 0.2


def test_trigger_tokens_include_the_unique_words(memorized_results):
    _, out = memorized_results
    hits = 0
    for caption, triggers in zip(out["caption"], out["trigger_tokens"]):
        top = {t["token"] for t in sorted(triggers, key=lambda t: -t["contribution"])[:2]}
        hits += bool(top & set(RECORDS[caption]["unique_words"]))
    assert hits / len(out) >= 0.9


def test_captions_under_the_threshold_are_not_changed(stage):
    clean = (CANARY / "labels/clean.txt").read_text().splitlines()[:30]
    scores = stage._score(clean)
    for caption, score in zip(clean, scores):
        if score <= stage.threshold:
            rewrite = greedy_drop(caption, score, stage.threshold, stage._score)
            assert (rewrite.caption, rewrite.edits, rewrite.converged) == (caption, 0, True)


def test_single_word_and_failed_rows(stage):
    assert leave_one_out("zorpa", stage._score)[0][0] == "zorpa"
    out = stage.process(pd.DataFrame({"row_id": [7, 8], "caption": ["zorpa", None], "score": [99.0, 99.0]}))
    assert out.loc[0, "status"] == "ok" and out.loc[0, "edits"] == 0
    assert out.loc[1, "status"].startswith("error:")
