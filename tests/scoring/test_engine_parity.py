"""The batched engine must equal a naive one-caption-at-a-time reference, whatever the batching."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from audit.model.loader import load_model
from audit.scoring.engine import ScoreConfig, Scorer

CAPTIONS = [f"caption number {i} of a {w} scene" for i, w in enumerate(["red", "blue", "tiny", "large"] * 10)]
CAPTIONS += ["", "a", "x " * 200, CAPTIONS[0], CAPTIONS[3]]  # empty, short, truncated, duplicates


def naive_terms(model, caption: str, n: int, seed: int) -> tuple[float, float]:
    """Reference: separate cond / uncond UNet calls per latent and timestep, no caching, float32."""
    sched = __import__("diffusers").DDIMScheduler.from_config(model.scheduler_config)
    sched.set_timesteps(50)
    t_hi, t_lo = int(sched.timesteps[0]), int(sched.timesteps[-3])
    c, h, w = model.latent_shape
    x_all = torch.randn((n, c, h, w), generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32)

    def states(text):
        ids = model.tokenizer([text], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        return model.text_encoder(ids)[0]

    def eps(x, t, s):
        out = model.unet(x[None], t, encoder_hidden_states=s).sample[0]
        if model.prediction_type == "v_prediction":
            a = model.alphas_cumprod[t].item()
            out = a**0.5 * out + (1 - a) ** 0.5 * x
        return out

    norms, coss = [], []
    with torch.no_grad():
        sc, su = states(caption), states("")
        for x in x_all:
            norms.append((eps(x, t_hi, sc) - eps(x, t_hi, su)).flatten().norm().item())
            e_u, e_c = eps(x, t_lo, su), eps(x, t_lo, sc)
            coss.append(F.cosine_similarity(e_u, e_c - e_u, dim=0).mean().item())
    return sum(norms) / n, sum(coss) / n


@pytest.mark.parametrize("fixture", ["tiny_eps", "tiny_v"])
@pytest.mark.parametrize("n", [1, 3])
def test_engine_matches_naive_reference(request, fixture, n):
    model = load_model(str(request.getfixturevalue(fixture)), device="cpu")
    subset = CAPTIONS[::4] + CAPTIONS[-5:]
    got = Scorer(model, ScoreConfig(generations=n, seed=51, batch_size=7)).score(subset)
    for i, caption in enumerate(subset):
        ref_norm, ref_cos = naive_terms(model, caption, n, 51)
        assert got["norm"][i] == pytest.approx(ref_norm, abs=1e-5, rel=1e-5)
        assert got["cosine"][i] == pytest.approx(ref_cos, abs=1e-5)


@pytest.mark.parametrize("fixture", ["tiny_eps", "tiny_v"])
def test_batch_size_and_order_do_not_change_numbers(request, fixture):
    model = load_model(str(request.getfixturevalue(fixture)), device="cpu")
    results = {bs: Scorer(model, ScoreConfig(generations=3, batch_size=bs)).score(CAPTIONS) for bs in (1, 7, 32)}
    order = list(range(len(CAPTIONS)))
    random.Random(0).shuffle(order)
    shuffled = Scorer(model, ScoreConfig(generations=3, batch_size=7, max_unet_rows=5)).score([CAPTIONS[i] for i in order])
    for key in ("norm", "cosine"):
        base = torch.tensor(results[1][key])
        for bs in (7, 32):
            torch.testing.assert_close(torch.tensor(results[bs][key]), base, atol=1e-5, rtol=1e-5)
        unshuffled = torch.empty_like(base)
        unshuffled[order] = torch.tensor(shuffled[key])
        torch.testing.assert_close(unshuffled, base, atol=1e-5, rtol=1e-5)
    assert results[1]["truncated"][CAPTIONS.index("x " * 200)] is True
    assert results[1]["n_tokens"][CAPTIONS.index("x " * 200)] == 202


def test_caption_with_the_empty_prompts_tokens_has_zero_guidance(tiny_eps):
    got = Scorer(load_model(str(tiny_eps), device="cpu")).score(["", "a cat"])
    assert got["no_tokens"] == [True, False]
    assert got["norm"][0] == 0.0 and got["cosine"][0] == 0.0 and got["norm"][1] > 0


@pytest.mark.parametrize("fixture", ["tiny_eps", "tiny_v"])
def test_benchmark_baselines_compute_the_same_terms(request, fixture):
    from audit.scoring.baselines import authors_procedure, naive_terms

    model = load_model(str(request.getfixturevalue(fixture)), device="cpu")
    scorer = Scorer(model, ScoreConfig())
    got = scorer.score(CAPTIONS[:3])
    for i, caption in enumerate(CAPTIONS[:3]):
        for procedure in (naive_terms, authors_procedure):
            norm, cos = procedure(model, caption, scorer.x_T[:1], scorer.t_hi, scorer.t_lo)
            assert norm == pytest.approx(got["norm"][i], rel=1e-5, abs=1e-5)
            assert cos == pytest.approx(got["cosine"][i], abs=1e-5)


def test_authors_sd2_formulas_on_raw_v(tiny_v, tiny_eps):
    model = load_model(str(tiny_v), device="cpu")
    scorer = Scorer(model, ScoreConfig(authors_sd2=True))
    got = scorer.score(["a blue house"])
    ids = model.tokenizer(["a blue house", ""], padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        s = model.text_encoder(ids)[0]
        x = scorer.x_T
        raw = lambda t, k: model.unet(x, t, encoder_hidden_states=s[k : k + 1]).sample
        a = model.alphas_cumprod[scorer.t_hi].item()
        norm = ((a**0.5) * (raw(scorer.t_hi, 0) - raw(scorer.t_hi, 1)) / (1 - a)).flatten().norm().item()
        v_u, v_c = raw(scorer.t_lo, 1), raw(scorer.t_lo, 0)
        cos = F.cosine_similarity(v_u, v_c - v_u, dim=1).mean().item()
    assert got["norm"][0] == pytest.approx(norm, rel=1e-5) and got["cosine"][0] == pytest.approx(cos, abs=1e-5)
    assert Scorer(model, ScoreConfig()).score(["a blue house"])["norm"][0] != pytest.approx(norm, rel=1e-3)
    with pytest.raises(ValueError, match="v-prediction models only"):
        Scorer(load_model(str(tiny_eps), device="cpu"), ScoreConfig(authors_sd2=True))
