"""SDXL: the batched engine equals a naive reference that conditions the UNet itself, as diffusers' SDXL pipeline
does, one caption at a time, for both unconditional conventions and any batch size."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from audit.model.loader import load_model
from audit.scoring.engine import ScoreConfig, Scorer
from tests.conftest import build_tiny_sdxl_pipeline

CAPTIONS = [f"caption number {i} of a {w} scene" for i, w in enumerate(["red", "blue", "tiny", "large"] * 3)]
CAPTIONS += ["", "a", "zorpaflinx " * 12, CAPTIONS[0], CAPTIONS[5]]  # empty, short, truncated by the 2nd only, duplicates


@pytest.fixture(scope="module", params=[True, False], ids=["zeros-for-empty", "encoded-empty"])
def folder(request, tmp_path_factory):
    return build_tiny_sdxl_pipeline(tmp_path_factory.mktemp("sdxl") / "pipe", zeros_for_empty=request.param, seed=3)


class NaiveSDXL:
    """The pipeline's parts loaded directly, and SDXL's conditioning written out: penultimate states of both
    encoders concatenated, the second's projected pooled output, time ids (original size, crop 0 0, target size)."""

    def __init__(self, folder):
        self.index = json.loads((folder / "model_index.json").read_text())
        self.unet = UNet2DConditionModel.from_pretrained(folder / "unet").eval()
        self.encoders = [CLIPTextModel.from_pretrained(folder / "text_encoder").eval(),
                         CLIPTextModelWithProjection.from_pretrained(folder / "text_encoder_2").eval()]
        self.tokenizers = [CLIPTokenizer.from_pretrained(folder / name) for name in ("tokenizer", "tokenizer_2")]
        self.sched = DDIMScheduler.from_pretrained(folder / "scheduler")
        vae_scale = 2 ** (len(json.loads((folder / "vae" / "config.json").read_text())["block_out_channels"]) - 1)
        side = self.unet.config.sample_size * vae_scale
        self.time_ids = torch.tensor([[side, side, 0, 0, side, side]], dtype=torch.float32)

    def ids(self, text):
        return [tok([text], padding="max_length", max_length=tok.model_max_length, truncation=True,
                    return_tensors="pt").input_ids for tok in self.tokenizers]

    def encode(self, text):
        outs = [enc(ids, output_hidden_states=True) for enc, ids in zip(self.encoders, self.ids(text))]
        return torch.cat([o.hidden_states[-2] for o in outs], dim=-1), outs[1].text_embeds

    def uncond(self):
        states, pooled = self.encode("")
        if self.index["force_zeros_for_empty_prompt"]:
            return torch.zeros_like(states), torch.zeros_like(pooled)
        return states, pooled

    def eps(self, x, t, cond):
        states, pooled = cond
        return self.unet(x[None], t, encoder_hidden_states=states,
                         added_cond_kwargs={"text_embeds": pooled, "time_ids": self.time_ids}).sample[0]

    @torch.no_grad()
    def terms(self, caption, n, seed):
        if all(torch.equal(a, b) for a, b in zip(self.ids(caption), self.ids(""))):
            return 0.0, 0.0  # the engine's rule: a caption with the empty prompt's tokens has no guidance
        self.sched.set_timesteps(50)
        t_hi, t_lo = int(self.sched.timesteps[0]), int(self.sched.timesteps[-3])
        c, s = self.unet.config.in_channels, self.unet.config.sample_size
        x_all = torch.randn((n, c, s, s), generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32)
        cond, uncond = self.encode(caption), self.uncond()
        norms, coss = [], []
        for x in x_all:
            norms.append((self.eps(x, t_hi, cond) - self.eps(x, t_hi, uncond)).flatten().norm().item())
            e_u, e_c = self.eps(x, t_lo, uncond), self.eps(x, t_lo, cond)
            coss.append(F.cosine_similarity(e_u, e_c - e_u, dim=0).mean().item())
        return sum(norms) / n, sum(coss) / n


@pytest.mark.parametrize("batch_size", [1, 7])
def test_sdxl_engine_matches_naive_reference(folder, batch_size):
    model = load_model(str(folder), device="cpu")
    assert model.text.family == "sdxl"
    got = Scorer(model, ScoreConfig(generations=1, seed=51, batch_size=batch_size)).score(CAPTIONS)
    naive = NaiveSDXL(folder)
    for i, caption in enumerate(CAPTIONS):
        ref_norm, ref_cos = naive.terms(caption, 1, 51)
        assert got["norm"][i] == pytest.approx(ref_norm, abs=1e-5, rel=1e-5), caption
        assert got["cosine"][i] == pytest.approx(ref_cos, abs=1e-5), caption
        counts = [len(tok(caption).input_ids) for tok in naive.tokenizers]
        assert got["n_tokens"][i] == max(counts) and got["truncated"][i] == (max(counts) > 77)
    long = CAPTIONS.index("zorpaflinx " * 12)  # within the first tokenizer's limit, over the second's
    assert len(naive.tokenizers[0](CAPTIONS[long]).input_ids) <= 77 and got["truncated"][long]
    assert got["no_tokens"] == [c == "" for c in CAPTIONS]


def test_sdxl_engine_matches_naive_reference_over_several_latents(folder):
    model = load_model(str(folder), device="cpu")
    subset = CAPTIONS[:3]
    got = Scorer(model, ScoreConfig(generations=2, seed=7, batch_size=2)).score(subset)
    naive = NaiveSDXL(folder)
    for i, caption in enumerate(subset):
        ref_norm, ref_cos = naive.terms(caption, 2, 7)
        assert got["norm"][i] == pytest.approx(ref_norm, abs=1e-5, rel=1e-5)
        assert got["cosine"][i] == pytest.approx(ref_cos, abs=1e-5)


def test_dedup_keys_count_tokens_as_the_scorer(folder):
    """Dataset-wide dedup keys captions without the model: its n_tokens / truncated must be the scorer's (the
    stricter tokenizer), and its keys must separate what the scorer separates."""
    import pandas as pd

    from audit.scoring.keys import KeyStage

    captions = [c for c in CAPTIONS if c.strip()]  # an empty string is an `empty` row to the readers, never keyed
    stage = KeyStage(str(folder))
    stage.setup()
    keyed = stage.process(pd.DataFrame({"caption": captions}))
    got = Scorer(load_model(str(folder), device="cpu"), ScoreConfig(batch_size=7)).score(captions)
    assert (keyed["status"] == "ok").all() and not any(got["no_tokens"])
    assert keyed["n_tokens"].tolist() == got["n_tokens"] and keyed["truncated"].tolist() == got["truncated"]
    assert any(got["truncated"])
    assert keyed["caption_key"].nunique() == len(set(captions))
