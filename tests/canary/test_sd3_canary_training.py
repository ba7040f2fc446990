"""The flow (SD3-shaped) canary's training code: the rectified-flow objective, a short run that saves a loadable
SD3 pipeline folder without T5, and the Euler sampler of its sampling check."""
from pathlib import Path

import torch

from audit.canary.data import make_canary_data
from audit.canary.flow import flow_noising
from audit.canary.tokenizer import write_clip_tokenizer
from audit.canary.verify import sample_captions
from audit.model.loader import DEFAULT_MODEL, load_model
from audit.scoring.engine import Scorer


def test_flow_noising_is_the_rectified_flow_path():
    gen = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(64, 3, 8, 8), torch.randn(64, 3, 8, 8)
    xt, t, target = flow_noising(x0, noise, gen)
    sigma = (t / 1000).view(-1, 1, 1, 1)
    assert torch.allclose(xt, (1 - sigma) * x0 + sigma * noise, atol=1e-6) and torch.equal(target, noise - x0)
    assert 0 < float(t.min()) and float(t.max()) < 1000 and 300 < float(t.mean()) < 700  # logit-normal around 0.5


def test_training_saves_a_loadable_sd3_pipeline_that_samples(tmp_path):
    from audit.canary.train import TrainConfig, train

    merges = Path(DEFAULT_MODEL) / "tokenizer" / "merges.txt"
    tokenizers = [tmp_path / "tokenizer", tmp_path / "tokenizer_2"]
    for folder, pad in zip(tokenizers, ("<|endoftext|>", "!")):
        write_clip_tokenizer(merges, folder, 2048, pad)
    data = make_canary_data(3, 4, 4, 2)
    stats = train(TrainConfig(seed=3, steps=2, batch_size=16, duplicated=4, family="sd3"), data, tokenizers, tmp_path / "run")
    assert stats["repeats_per_duplicated_pair"] == 4
    model = load_model(str(tmp_path / "run" / "step-2"), device="cpu")
    assert model.pipeline == "StableDiffusion3Pipeline" and model.prediction_type == "flow"
    assert model.latent_shape == (3, 8, 8) and model.text.family == "sd3" and len(model.text.encoders) == 2
    assert len(Scorer(model).score(["a caption"])["norm"]) == 1
    samples = sample_captions(model, ["a caption", "another"], [0, 1])
    assert samples.shape == (2, 2, 3, 8, 8) and torch.isfinite(samples).all()
    assert not torch.allclose(samples[0, 0], samples[0, 1])  # the caption changes the sample


def test_one_zero_t5_token_weighed_as_all_gives_the_full_states_outputs_and_gradients():
    """Training's shortcut (one zero T5 state with RepeatedLastTokenAttention) computes what the pipeline's 256 zero
    states give: the same velocity and the same parameter gradients."""
    from audit.canary.flow import RepeatedLastTokenAttention, compact_t5
    from audit.canary.train import build_models
    from audit.model.conditioning import TextStates
    from audit.model.families import T5_TOKENS

    transformer, _ = build_models(0, "sd3", 2048)
    x, t = torch.randn(3, 3, 8, 8), torch.tensor([1000.0, 500.0, 20.0])
    tokens = torch.cat([torch.randn(3, 32, 64), torch.zeros(3, T5_TOKENS, 64)], dim=1)
    states = TextStates(tokens, torch.randn(3, 64), mmdit=True)
    runs = []
    for compact in (False, True):
        transformer.zero_grad()
        if compact:
            transformer.set_attn_processor(RepeatedLastTokenAttention(T5_TOKENS))
        run_states = compact_t5(states) if compact else states
        out = run_states.denoise(transformer, x, t)
        out.square().mean().backward()
        runs.append((out.detach(), [p.grad.clone() for p in transformer.parameters() if p.grad is not None]))
    assert compact_t5(states).tokens.shape[1] == 33
    (full, full_grads), (short, short_grads) = runs
    assert torch.allclose(full, short, atol=1e-5)
    assert len(full_grads) == len(short_grads) and all(
        torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(full_grads, short_grads))
