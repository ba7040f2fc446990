"""SD3: the batched engine equals a naive reference that conditions the transformer itself, as diffusers' SD3 pipeline
does, one caption at a time with separate conditional and unconditional calls, with and without T5, for batch sizes
1 and 7 and n = 1 and 2 (docs/flow-models.md: the norm on the velocity at sigma = 1, the cosine on the implied noise)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
from transformers import AutoTokenizer, CLIPTextModelWithProjection, T5EncoderModel

from audit.model.loader import load_model
from audit.scoring.engine import ScoreConfig, Scorer

CAPTIONS = [f"caption number {i} of a {w} scene" for i, w in enumerate(["red", "blue", "tiny", "large"] * 2)]
CAPTIONS += ["", "a", "zorpaflinx " * 40, CAPTIONS[0], CAPTIONS[5]]  # empty, short, truncated, duplicates


class NaiveSD3:
    """The pipeline's parts loaded directly and SD3's conditioning written out: both CLIP encoders' penultimate
    states concatenated and zero-padded to the joint width, then T5's 256 states (or zeros), pooled outputs concatenated."""

    def __init__(self, folder):
        self.net = SD3Transformer2DModel.from_pretrained(folder / "transformer").eval()
        self.clips = [CLIPTextModelWithProjection.from_pretrained(folder / n).eval() for n in ("text_encoder", "text_encoder_2")]
        self.clip_tokenizers = [AutoTokenizer.from_pretrained(folder / n) for n in ("tokenizer", "tokenizer_2")]
        has_t5 = (folder / "text_encoder_3").is_dir()
        self.t5 = T5EncoderModel.from_pretrained(folder / "text_encoder_3").eval() if has_t5 else None
        self.t5_tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer_3") if has_t5 else None
        sched = FlowMatchEulerDiscreteScheduler.from_pretrained(folder / "scheduler")
        sched.set_timesteps(28)
        self.t_hi, self.t_lo, self.sigma_lo = sched.timesteps[0], sched.timesteps[-3], float(sched.sigmas[-4])
        self.width = self.net.config.joint_attention_dim

    def encode(self, text):
        outs = []
        for tok, enc in zip(self.clip_tokenizers, self.clips):
            ids = tok([text], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
            outs.append(enc(ids, output_hidden_states=True))
        clip = torch.cat([o.hidden_states[-2] for o in outs], dim=-1)
        clip = F.pad(clip, (0, self.width - clip.shape[-1]))
        if self.t5 is None:
            t5 = torch.zeros(1, 256, self.width)
        else:
            t5 = self.t5(self.t5_tokenizer([text], padding="max_length", max_length=256, truncation=True,
                                           return_tensors="pt").input_ids)[0]
        return torch.cat([clip, t5], dim=1), torch.cat([o.text_embeds for o in outs], dim=-1)

    def velocity(self, x, t, cond):
        states, pooled = cond
        out = self.net(hidden_states=x[None], timestep=t[None], encoder_hidden_states=states, pooled_projections=pooled)
        return out.sample[0]

    @torch.no_grad()
    def terms(self, caption, noise):
        cond, uncond = self.encode(caption), self.encode("")
        norms, coss = [], []
        for x in noise:
            norms.append((self.velocity(x, self.t_hi, cond) - self.velocity(x, self.t_hi, uncond)).norm())
            e_c = x + (1 - self.sigma_lo) * self.velocity(x, self.t_lo, cond)
            e_u = x + (1 - self.sigma_lo) * self.velocity(x, self.t_lo, uncond)
            g = e_c - e_u
            coss.append(((e_u * g).sum(0) / (e_u.norm(dim=0) * g.norm(dim=0)).clamp_min(1e-12)).mean())
        return float(torch.stack(norms).mean()), float(torch.stack(coss).mean())


@pytest.mark.parametrize("with_t5", [True, False], ids=["t5", "no-t5"])
@pytest.mark.parametrize("n", [1, 2])
def test_engine_equals_naive_reference(tiny_sd3, tiny_sd3_no_t5, with_t5, n):
    folder = tiny_sd3 if with_t5 else tiny_sd3_no_t5
    naive = NaiveSD3(folder)
    noise = torch.randn((n, 4, 8, 8), generator=torch.Generator("cpu").manual_seed(51))
    expected = [naive.terms(c, noise) for c in CAPTIONS]
    assert all(e[0] > 0.01 for c, e in zip(CAPTIONS, expected) if c)  # the guidance does not vanish
    model = load_model(str(folder), device="cpu")
    for batch_size in (1, 7):
        scorer = Scorer(model, ScoreConfig(generations=n, batch_size=batch_size))
        assert (scorer.t_hi, scorer.t_lo) == (1000.0, pytest.approx(199.827, abs=1e-3))
        got = scorer.score(CAPTIONS)
        for caption, (norm, cos), g_norm, g_cos in zip(CAPTIONS, expected, got["norm"], got["cosine"]):
            assert g_norm == pytest.approx(norm, abs=1e-5), (caption, batch_size)
            assert g_cos == pytest.approx(cos, abs=1e-5), (caption, batch_size)
        assert got["no_tokens"] == [c == "" for c in CAPTIONS]
        assert got["truncated"][CAPTIONS.index("zorpaflinx " * 40)] and not got["truncated"][0]


def test_eps_guidance_vanishes_at_sigma_one(tiny_sd3):
    """The trap the derivation avoids: the implied noise's guidance at the first timestep is exactly zero."""
    naive = NaiveSD3(tiny_sd3)
    x = torch.randn(4, 8, 8, generator=torch.Generator("cpu").manual_seed(0))
    with torch.no_grad():
        v_c, v_u = naive.velocity(x, naive.t_hi, naive.encode("a red cat")), naive.velocity(x, naive.t_hi, naive.encode(""))
    sigma = float(naive.t_hi) / 1000
    assert sigma == 1.0 and torch.equal(x + (1 - sigma) * v_c, x + (1 - sigma) * v_u) and (v_c - v_u).norm() > 0.01
