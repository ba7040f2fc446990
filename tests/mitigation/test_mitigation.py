"""Mitigation on the canary, whose memorized captions and their unique words are known.

Acceptance on the flagged rows of (a) the bundled sample and (b) memorized captions only (the first N_CHECK
of the 129; `jobs/mitigation_check.py` measures all 129 and the sample through `scan --mitigate`), with the
default target (the profile's clean median) and batches of 8 as the pool sends them.
"""
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
from audit.model.conditioning import TextStates
from audit.model.loader import DEFAULT_MODEL
from audit.sampling.ddim import ddim_sample
from audit.scoring.engine import ScoreConfig
from audit.scoring.stage import ScoreStage

CANARY = Path(DEFAULT_MODEL)
SUMMARY = json.loads((CANARY / "build_summary.json").read_text())
RECORDS = {r["caption"]: r for r in map(json.loads, (CANARY / "labels/captions.jsonl").read_text().splitlines())}
N_CHECK = 20
SETS = {"sample": (CANARY.parent / "sample_captions.txt").read_text().splitlines(),
        "memorized": (CANARY / "labels/memorized.txt").read_text().splitlines()[:N_CHECK]}


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    scoring = ScoreStage(device="cpu", config=ScoreConfig(generations=1, seed=51))
    scoring.setup()
    stage = MitigationStage(scoring, scoring.weights.threshold, str(tmp_path_factory.mktemp("run")))
    stage.setup()
    return stage


@pytest.fixture(scope="module", params=list(SETS))
def flagged_results(request, stage):
    """The rows a scan flags (scored, over the threshold) in rank order, and their mitigation in batches of 8."""
    scored = stage.scoring.process(pd.DataFrame({"caption": SETS[request.param]}))
    frame = scored[scored["status"].eq("ok") & (scored["score"] > stage.threshold)].sort_values("score", ascending=False)
    offset = 1000 * list(SETS).index(request.param)  # both sets share the stage's run folder
    frame = frame.assign(row_id=frame.index + offset, rank=range(1, len(frame) + 1)).reset_index(drop=True)
    out = pd.concat([stage.process(frame.iloc[i : i + 8]) for i in range(0, len(frame), 8)], ignore_index=True)
    return frame, out


def test_the_default_target_is_the_profiles_clean_median(stage):
    assert stage.target == stage.scoring.weights.clean_median < stage.threshold


def test_flagged_captions_are_mitigated(stage, flagged_results):
    frame, out = flagged_results
    assert len(frame) >= 12 and (out["status"] == "ok").all()
    assert out["row_id"].tolist() == frame["row_id"].tolist() and out["rank"].tolist() == frame["rank"].tolist()
    assert out["embedding_converged"].mean() >= 0.95
    assert (out["embedding_score"] <= stage.threshold).mean() >= 0.95
    for f in out["embedding_file"]:
        assert f.startswith("embeddings/") and load_file(Path(stage.run_dir) / f)["prompt_embeds"].shape[0] == 1


def test_adapted_embeddings_and_rewrites_stop_the_copy(stage, flagged_results):
    """DDIM 50 steps, guidance 7.5, the canary README's check seed; copy = nearest training image is own.

    Only flagged rows with a training image of their own count (the sample's shape scenes have none)."""
    frame, out = flagged_results
    seed = SUMMARY["recipe"]["seed"]
    data = make_canary_data(seed, SUMMARY["recipe"]["duplicated"], SUMMARY["recipe"]["seen_once"],
                            SUMMARY["recipe"]["never_seen"])
    textures = [p.caption for p in data.duplicated + data.seen_once]
    refs = reference_images(data, seed, 1000)
    keep = frame["caption"].isin(textures).to_numpy()
    frame, out = frame[keep], out[keep]
    assert len(frame) >= 5
    own = torch.tensor([textures.index(c) for c in frame["caption"]])
    model = stage.scorer.model
    noise = torch.randn((1, *model.latent_shape), generator=torch.Generator().manual_seed(2)).expand(len(frame), -1, -1, -1)
    uncond = stage.scorer.uncond_states
    copies = lambda states: (nearest_training_image(ddim_sample(model.unet, model.scheduler_config, states, uncond,
                                                                noise.contiguous()), refs)[0] == own).float().mean()
    before = copies(stage.scorer.caption_states(frame["caption"].tolist()))
    adapted = copies(TextStates(torch.cat([load_file(Path(stage.run_dir) / f)["prompt_embeds"] for f in out["embedding_file"]])))
    rewritten = copies(stage.scorer.caption_states(out["suggested_caption"].tolist()))
    assert before >= 0.8
    assert adapted <= 0.1
    assert rewritten <= 0.2


def test_trigger_tokens_include_the_unique_words(flagged_results):
    _, out = flagged_results
    out = out[out["caption"].map(lambda c: bool(RECORDS.get(c, {}).get("unique_words")))]
    hits = 0
    for caption, triggers in zip(out["caption"], out["trigger_tokens"]):
        top = {t["token"] for t in sorted(triggers, key=lambda t: -t["contribution"])[:2]}
        hits += bool(top & set(RECORDS[caption]["unique_words"]))
    assert hits / len(out) >= 0.85  # as in test_attribution; 89.9% on all 129 (README)


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
    assert out.loc[0, "status"] == "ok" and out.loc[0, "edits"] == 0  # the batch failed: each row retried alone
    assert out.loc[1, "status"].startswith("error:")
