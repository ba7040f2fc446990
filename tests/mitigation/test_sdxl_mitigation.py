"""Mitigation on the SDXL canary: the adaptation moves both the token states and the pooled embedding and lowers
the score; attribution reaches every word through both text encoders."""
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from audit.mitigation.attribution import gradient_x_input, token_words
from audit.mitigation.stage import MitigationStage
from audit.model.conditioning import TextStates
from audit.model.loader import DEFAULT_MODEL
from audit.scoring.engine import ScoreConfig
from audit.scoring.stage import ScoreStage
from audit.scoring.terms import combine

CANARY_SDXL = Path(DEFAULT_MODEL).parent / "canary_sdxl"
RECORDS = {r["caption"]: r for r in map(json.loads, (CANARY_SDXL / "labels/captions.jsonl").read_text().splitlines())}
MEMORIZED = (CANARY_SDXL / "labels/memorized.txt").read_text().splitlines()


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    scoring = ScoreStage(model=str(CANARY_SDXL), device="cpu", config=ScoreConfig(generations=1, seed=51))
    scoring.setup()
    stage = MitigationStage(scoring, scoring.weights.threshold, str(tmp_path_factory.mktemp("run")), attribution="gradient")
    stage.setup()
    return stage


def test_adaptation_lowers_the_score_through_states_and_pooled_embedding(stage):
    scored = stage.scoring.process(pd.DataFrame({"caption": MEMORIZED[:6]}))
    assert (scored["score"] > stage.threshold).all()
    out = stage.process(scored.assign(row_id=range(6)))
    assert (out["status"] == "ok").all() and out["embedding_converged"].all()
    assert (out["embedding_score"] <= stage.threshold).all() and (out["embedding_score"] < out["original_score"]).all()
    before = stage.scorer.caption_states(MEMORIZED[:1])
    saved = load_file(Path(stage.run_dir) / out["embedding_file"][0])
    adapted = TextStates(saved["prompt_embeds"], saved["pooled_prompt_embeds"], before.time_ids)
    assert not torch.allclose(adapted.tokens, before.tokens) and not torch.allclose(adapted.pooled, before.pooled)
    with torch.no_grad():
        norm, cos = stage.scorer.terms_from_states(adapted)
    assert float(combine(norm, cos, stage.scoring.weights)[0]) == pytest.approx(out["embedding_score"][0], abs=1e-5)


def test_attribution_reaches_words_through_both_encoders(stage):
    hits = 0
    captions = MEMORIZED[:20]
    for caption in captions:
        contributions = gradient_x_input(stage.scorer, caption, stage.scoring.weights)
        assert [w for w, _ in contributions] == caption.split() and all(math.isfinite(c) for _, c in contributions)
        top = {w for w, _ in sorted(contributions, key=lambda wc: -wc[1])[:2]}
        hits += bool(top & set(RECORDS[caption]["unique_words"]))
    assert hits / len(captions) >= 0.7
    # the two tokenizers split words differently (the second pads with "!"), and each encoder's tokens are attributed
    owners = [token_words(stage.scorer, captions[0], k) for k in (0, 1)]
    assert all(max(o) == len(captions[0].split()) - 1 for o in owners)


def score_with_word_scaled(stage, caption, word, factor):
    """The score when one word's token embeddings in BOTH encoders are multiplied by `factor`."""
    text = stage.scorer.text
    hooks = []
    for k, encoder in enumerate(text.encoders):
        mask = torch.tensor(token_words(stage.scorer, caption, k)) == word
        hooks.append(encoder.get_input_embeddings().register_forward_hook(
            lambda module, inputs, out, mask=mask: out * torch.where(mask, factor, 1.0)[None, :, None]))
    try:
        with torch.no_grad():
            norm, cos = stage.scorer.terms_from_states(stage.scorer.caption_states([caption]))
    finally:
        for hook in hooks:
            hook.remove()
    return float(combine(norm, cos, stage.scoring.weights)[0])


def test_gradient_contribution_is_the_derivative_along_the_word_in_both_encoders(stage):
    caption = MEMORIZED[0]
    eps = 1e-2
    for k, (_, contribution) in enumerate(gradient_x_input(stage.scorer, caption, stage.scoring.weights)):
        up, down = score_with_word_scaled(stage, caption, k, 1 + eps), score_with_word_scaled(stage, caption, k, 1 - eps)
        assert contribution == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=1e-4)
