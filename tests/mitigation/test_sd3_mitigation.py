"""Mitigation on a tiny random SD3 folder: gradient attribution reaches every word through both CLIP encoders and
T5, the adaptation moves token states and pooled projections and lowers the score, rewrites run."""
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from audit.mitigation.attribution import gradient_x_input, leave_one_out_batch, token_words
from audit.mitigation.stage import MitigationStage
from audit.model.conditioning import TextStates, token_embedding
from audit.scoring.profiles import Profile
from audit.scoring.stage import ScoreStage
from audit.scoring.terms import combine

WEIGHTS = Profile("test", 1.0, 0.5)
CAPTION = "a red cat at the dog"


@pytest.fixture(scope="module")
def stage(tiny_sd3, tmp_path_factory):
    scoring = ScoreStage(model=str(tiny_sd3), device="cpu", profile="sd3")
    scoring.setup()
    stage = MitigationStage(scoring, 0.05, str(tmp_path_factory.mktemp("run")), target=0.02, max_steps=8,
                            attribution="gradient")
    stage.setup()
    return stage


def score_with_word_scaled(scorer, caption, word, factor):
    """The score when one word's token embeddings in every text encoder (T5 too) are multiplied by `factor`."""
    text = scorer.text
    masks = [torch.tensor(token_words(scorer, caption, k)) == word for k in range(len(text.encoders))]
    scale = lambda mask: lambda module, inputs, out: out * torch.where(mask, factor, 1.0)[None, :, None]
    hooks = [token_embedding(enc).register_forward_hook(scale(m)) for enc, m in zip(text.encoders, masks)]
    try:
        with torch.no_grad():
            norm, cos = scorer.terms_from_states(scorer.caption_states([caption]))
    finally:
        for hook in hooks:
            hook.remove()
    return float(combine(norm, cos, WEIGHTS)[0])


def test_gradient_contribution_is_the_derivative_through_all_three_encoders(stage):
    scorer = stage.scorer
    assert [len(token_words(scorer, CAPTION, k)) for k in range(3)] == [77, 77, 256]
    grads = gradient_x_input(scorer, CAPTION, WEIGHTS)
    assert [w for w, _ in grads] == CAPTION.split()
    eps = 1e-2
    for k, (_, contribution) in enumerate(grads):
        up, down = score_with_word_scaled(scorer, CAPTION, k, 1 + eps), score_with_word_scaled(scorer, CAPTION, k, 1 - eps)
        assert contribution == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=1e-5)


def test_adaptation_and_rewrite_on_sd3(stage):
    captions = ["a red cat", "the dog at a cat"]
    scored = stage.scoring.process(pd.DataFrame({"caption": captions}))
    out = stage.process(scored.assign(row_id=range(2)))
    assert (out["status"] == "ok").all() and (out["embedding_score"] < out["original_score"]).all()
    assert out["suggested_caption"].notna().all()
    saved = load_file(Path(stage.run_dir) / out["embedding_file"][0])
    assert saved["prompt_embeds"].shape == (1, 333, 32) and saved["pooled_prompt_embeds"].shape == (1, 24)
    before = stage.scorer.caption_states(captions[:1])
    adapted = TextStates(saved["prompt_embeds"], saved["pooled_prompt_embeds"], mmdit=True)
    assert not torch.allclose(adapted.tokens, before.tokens) and not torch.allclose(adapted.pooled, before.pooled)
    with torch.no_grad():
        norm, cos = stage.scorer.terms_from_states(adapted)
    assert float(combine(norm, cos, stage.scoring.weights)[0]) == pytest.approx(out["embedding_score"][0], abs=1e-5)


def test_leave_one_out_on_sd3(stage):
    [triggers] = leave_one_out_batch([CAPTION], stage._score)
    words = CAPTION.split()
    assert [w for w, _ in triggers] == words
    full, without_cat = stage._score([CAPTION, " ".join(w for w in words if w != "cat")])
    assert dict(triggers)["cat"] == pytest.approx(full - without_cat, abs=1e-6) and full > 0
