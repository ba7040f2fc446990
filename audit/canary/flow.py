"""The SD3-shaped flow canary's parts: a small MMDiT transformer and two CLIP encoders with projection, the
rectified-flow training objective, training's exact shortcut for the pipeline's zero T5 states, and its pipeline
folder (`StableDiffusion3Pipeline`, saved without T5)."""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
from transformers import CLIPTextModelWithProjection

from audit.model.conditioning import TextStates
from audit.model.families import SD3_PIPELINE, T5_TOKENS

SHIFT = 3.0  # SD3's scheduler shift: the probes and the sampling check use SD3's own schedule
JOINT_WIDTH = 64  # the transformer's joint attention width (two CLIP encoders of 32, concatenated)


def build_sd3_models(resolution: int, vocab_size: int, text_config) -> tuple[SD3Transformer2DModel, list]:
    """The transformer (patch 1, 4 layers of width 64) and two 2-layer CLIP encoders of width 32, projection 32."""
    transformer = SD3Transformer2DModel(
        sample_size=resolution, patch_size=1, in_channels=3, out_channels=3, num_layers=4, attention_head_dim=16,
        num_attention_heads=4, joint_attention_dim=JOINT_WIDTH, caption_projection_dim=64, pooled_projection_dim=64,
        pos_embed_max_size=resolution)
    encoders = [CLIPTextModelWithProjection(text_config(vocab_size, 32, projection_dim=32)) for _ in range(2)]
    return transformer, encoders


def flow_noising(x0: torch.Tensor, noise: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_sigma, timestep labels 1000 sigma, velocity target noise - x0), sigma logit-normal as SD3 trains."""
    sigma = torch.sigmoid(torch.randn(len(x0), generator=gen))
    s = sigma.view(-1, 1, 1, 1)
    return (1 - s) * x0 + s * noise, 1000 * sigma, noise - x0


class RepeatedLastTokenAttention:
    """Joint attention (as diffusers' `JointAttnProcessor2_0`, no q/k norms) in which the last context token stands
    for `copies` identical tokens: its key gets log(copies) added, so softmax weighs it as that many copies.

    A folder without T5 conditions on T5_TOKENS zero states. They enter every block as identical tokens and, with no
    position embedding on the context, stay identical through every layer; so one of them with this attention
    computes the same function (and gradients) as all of them, for a fraction of the cost.
    """

    def __init__(self, copies: int):
        self.log_copies = math.log(copies)

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                 attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if attn.norm_q is not None or attn.norm_added_q is not None:
            raise ValueError("the canary's transformer has no q/k norms")
        heads = lambda x: x.unflatten(-1, (attn.heads, -1)).transpose(1, 2)
        q, k, v = (heads(torch.cat([a(hidden_states), b(encoder_hidden_states)], dim=1))
                   for a, b in ((attn.to_q, attn.add_q_proj), (attn.to_k, attn.add_k_proj), (attn.to_v, attn.add_v_proj)))
        bias = q.new_zeros(1, k.shape[2])
        bias[:, -1] = self.log_copies
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).flatten(2)
        image, context = out[:, : hidden_states.shape[1]], out[:, hidden_states.shape[1] :]
        if not attn.context_pre_only:
            context = attn.to_add_out(context)
        return attn.to_out[1](attn.to_out[0](image)), context


def compact_t5(states: TextStates) -> TextStates:
    """`states` (CLIP states, then T5_TOKENS identical zero states) with one of the zero states left: for a
    transformer with `RepeatedLastTokenAttention(T5_TOKENS)`, the same outputs and gradients as the full states."""
    return replace(states, tokens=states.tokens[:, : states.tokens.shape[1] - T5_TOKENS + 1])


def save_sd3_pipeline(out: Path, transformer, encoders: Sequence, tokenizer_dirs: Sequence[Path]) -> None:
    """A `StableDiffusion3Pipeline` folder without T5 (its parts [null, null], as diffusers saves one) or VAE."""
    out.mkdir(parents=True, exist_ok=True)
    transformer.save_pretrained(out / "transformer")
    index = {"_class_name": SD3_PIPELINE, "_diffusers_version": "0.30.0",
             "transformer": ["diffusers", "SD3Transformer2DModel"], "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
             "text_encoder_3": [None, None], "tokenizer_3": [None, None], "vae": [None, None]}
    for k, (encoder, tokenizer) in enumerate(zip(encoders, tokenizer_dirs)):
        suffix = "" if k == 0 else f"_{k + 1}"
        encoder.save_pretrained(out / f"text_encoder{suffix}")
        shutil.copytree(tokenizer, out / f"tokenizer{suffix}", dirs_exist_ok=True)
        index |= {f"text_encoder{suffix}": ["transformers", "CLIPTextModelWithProjection"],
                  f"tokenizer{suffix}": ["transformers", "CLIPTokenizer"]}
    FlowMatchEulerDiscreteScheduler(shift=SHIFT).save_pretrained(out / "scheduler")
    (out / "model_index.json").write_text(json.dumps(index, indent=2))
