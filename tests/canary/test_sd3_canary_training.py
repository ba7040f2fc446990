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
