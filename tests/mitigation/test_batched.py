"""Batched mitigation on the canary: several captions in one pass give each the result it gets alone."""
from pathlib import Path

import pytest
import torch

from audit.mitigation.attribution import leave_one_out, leave_one_out_batch
from audit.mitigation.embedding import adapt_embeddings
from audit.model.loader import DEFAULT_MODEL, load_model
from audit.scoring.engine import ScoreConfig, Scorer
from audit.scoring.profiles import load_profile
from audit.scoring.terms import combine

CANARY = Path(DEFAULT_MODEL)
CAPTIONS = (CANARY / "labels/memorized.txt").read_text().splitlines()[:3] + ["zorpa"]


@pytest.fixture(scope="module")
def scorer():
    return Scorer(load_model(DEFAULT_MODEL, device="cpu"), ScoreConfig(generations=4))


@pytest.fixture(scope="module")
def weights():
    return load_profile(CANARY / "audit_profile.json")


def test_batched_adaptation_matches_one_caption_at_a_time(scorer, weights):
    batched = adapt_embeddings(scorer, CAPTIONS, weights, weights.clean_median, max_steps=50)
    alone = [adapt_embeddings(scorer, [c], weights, weights.clean_median, max_steps=50)[0] for c in CAPTIONS]
    assert len({a.steps for a in alone}) > 1, "captions must stop at different steps for the check to mean anything"
    for b, a in zip(batched, alone):
        assert (b.steps, b.converged) == (a.steps, a.converged)
        assert b.score == pytest.approx(a.score, abs=1e-4)
        torch.testing.assert_close(b.states.tokens, a.states.tokens, rtol=1e-3, atol=2e-3)  # Adam magnifies float noise a little


def test_a_converged_caption_keeps_the_states_it_converged_with(scorer, weights):
    [early, late] = adapt_embeddings(scorer, CAPTIONS[:2], weights, weights.clean_median, max_steps=50)
    for result in (early, late):
        with torch.no_grad():
            norm, cos = scorer.terms_from_states(result.states)
        assert float(combine(norm, cos, weights)[0]) == pytest.approx(result.score, abs=1e-5)


def test_batched_leave_one_out_matches_one_caption_at_a_time(scorer, weights):
    calls = []

    def score_fn(captions):
        calls.append(len(captions))
        r = scorer.score(captions)
        return [float(combine(n, c, weights)) for n, c in zip(r["norm"], r["cosine"])]

    batched = leave_one_out_batch(CAPTIONS, score_fn)
    assert calls == [sum(len(c.split()) + 1 for c in CAPTIONS[:-1])]  # one engine call; "zorpa" has no variant
    for caption, got in zip(CAPTIONS, batched):
        want = leave_one_out(caption, score_fn)
        assert [w for w, _ in got] == [w for w, _ in want] == caption.split()
        assert [c for _, c in got] == pytest.approx([c for _, c in want], abs=1e-5, nan_ok=True)
