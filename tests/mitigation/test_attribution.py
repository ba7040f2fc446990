"""Trigger-word attribution on the canary: the gradient pass against finite differences and the known unique words."""
import json
from pathlib import Path

import pytest
import torch

from audit.mitigation.attribution import gradient_x_input, leave_one_out, token_words
from audit.mitigation.stage import MitigationStage
from audit.model.loader import DEFAULT_MODEL, load_model
from audit.scoring.engine import Scorer
from audit.scoring.profiles import load_profile

CANARY = Path(DEFAULT_MODEL)
RECORDS = [json.loads(line) for line in (CANARY / "labels/captions.jsonl").read_text().splitlines()]
MEMORIZED = [r for r in RECORDS if r["memorized"]][:40]


@pytest.fixture(scope="module")
def scorer():
    return Scorer(load_model(DEFAULT_MODEL, device="cpu"))


@pytest.fixture(scope="module")
def weights():
    return load_profile(CANARY / "audit_profile.json")


def test_tokens_map_to_their_words(scorer):
    owner = token_words(scorer, "A photo, of  the cat")  # CLIP splits "photo," into two tokens
    assert owner[:8] == [-1, 0, 1, 1, 2, 3, 4, -1]
    assert set(owner[8:]) == {-1}


def score_with_word_scaled(scorer, caption, word, factor, weights):
    """The score when one word's token embeddings are multiplied by `factor`: the path the gradient differentiates."""
    mask = torch.tensor(token_words(scorer, caption)) == word
    hook = scorer.model.text_encoder.get_input_embeddings().register_forward_hook(
        lambda module, inputs, out: out * torch.where(mask, factor, 1.0)[None, :, None])
    try:
        with torch.no_grad():
            norm, cos = scorer.terms_from_states(scorer.caption_states([caption]))
    finally:
        hook.remove()
    return float(weights.w_norm * norm[0] + weights.w_cos * cos[0])


def test_gradient_contribution_is_the_derivative_along_the_word_embedding(scorer, weights):
    caption = MEMORIZED[0]["caption"]
    grads = gradient_x_input(scorer, caption, weights)
    assert [w for w, _ in grads] == caption.split()
    eps = 1e-2
    for k, (_, contribution) in enumerate(grads):
        up = score_with_word_scaled(scorer, caption, k, 1 + eps, weights)
        down = score_with_word_scaled(scorer, caption, k, 1 - eps, weights)
        assert contribution == pytest.approx((up - down) / (2 * eps), rel=2e-2, abs=1e-4)


def test_both_methods_find_the_unique_words_of_memorized_captions(scorer, weights):
    def score_fn(captions):
        r = scorer.score(captions)
        return [weights.w_norm * n + weights.w_cos * c for n, c in zip(r["norm"], r["cosine"])]

    def hit_rate(method):
        hits = 0
        for r in MEMORIZED:
            top = {w for w, _ in sorted(method(r["caption"]), key=lambda t: -t[1])[:2]}
            hits += bool(top & set(r["unique_words"]))
        return hits / len(MEMORIZED)

    assert hit_rate(lambda c: gradient_x_input(scorer, c, weights)) >= 0.8
    assert hit_rate(lambda c: leave_one_out(c, score_fn)) >= 0.85


def test_words_past_the_token_limit_contribute_nothing(scorer, weights):
    caption = " ".join(["faka"] * 90 + ["zorpa"])
    grads = gradient_x_input(scorer, caption, weights)
    assert len(grads) == 91 and grads[-1] == ("zorpa", 0.0) and grads[80][1] == 0.0


def test_cli_offers_exactly_the_methods():
    from audit.cli.mitigate import ATTRIBUTIONS
    from audit.mitigation.attribution import METHODS

    assert ATTRIBUTIONS == METHODS  # the CLI's copy, kept free of torch imports


def test_unknown_attribution_method_is_refused(tmp_path):
    with pytest.raises(ValueError, match="attribution must be one of"):
        MitigationStage(scoring=None, threshold=1.0, run_dir=str(tmp_path), attribution="saliency")
