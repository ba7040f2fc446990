"""How captions condition SD3's MMDiT transformer, as diffusers' `StableDiffusion3Pipeline` builds it.

Token states: both CLIP encoders' penultimate hidden states concatenated on the feature axis and zero-padded to
the transformer's joint width, then T5's last hidden states (`T5_TOKENS` tokens) after them on the token axis;
a folder saved without T5 gets zeros of that shape in its place, as in the pipeline. Pooled projections: both
CLIP encoders' pooled projections concatenated. The unconditional branch is the encoded empty prompt.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from audit.model.conditioning import TextConditioning, TextStates
from audit.model.families import T5_TOKENS
from audit.model.token_ids import TokenIds, token_limit


class SD3Conditioning(TextConditioning):
    """Two CLIP tokenizers and encoders with projection, then optionally T5's; `width` is the transformer's
    `joint_attention_dim`."""

    family = "sd3"

    def __init__(self, tokenizers: Sequence, encoders: Sequence[torch.nn.Module], dtype: torch.dtype, width: int):
        self.tokenizers, self.encoders, self.dtype, self.width = list(tokenizers), list(encoders), dtype, width
        limits = {token_limit(t, e.config) for t, e in zip(self.tokenizers[:2], self.encoders[:2])}
        if len(limits) != 1:
            raise ValueError(f"the CLIP tokenizers' length limits differ ({sorted(limits)}): their states cannot be concatenated")
        self.max_length = limits.pop()
        self.limits = [self.max_length] * 2 + [T5_TOKENS] * (len(self.tokenizers) - 2)
        self.token_ids = [TokenIds(t, n) for t, n in zip(self.tokenizers, self.limits)]

    def encode(self, ids: torch.Tensor) -> TextStates:
        """Token states (B, 77 + T5_TOKENS, width) and pooled projections of token ids (B, sum of the limits)."""
        size = self.max_length
        outs = [enc(ids[:, k * size : (k + 1) * size], output_hidden_states=True) for k, enc in enumerate(self.encoders[:2])]
        clip = torch.cat([o.hidden_states[-2] for o in outs], dim=-1).to(self.dtype)
        clip = F.pad(clip, (0, self.width - clip.shape[-1]))
        if len(self.encoders) == 3:
            t5 = self.encoders[2](ids[:, 2 * size :])[0].to(self.dtype)
        else:
            t5 = clip.new_zeros(len(ids), T5_TOKENS, self.width)
        pooled = torch.cat([o[0] for o in outs], dim=-1).to(self.dtype)
        return TextStates(torch.cat([clip, t5], dim=1), pooled, mmdit=True)


def check_sd3_widths(transformer_config, encoders: Sequence[torch.nn.Module]) -> None:
    """ValueError unless the encoders' widths fit the transformer: CLIP states within the joint width, the pooled
    projections' sum its pooled width, T5's width the joint width."""
    joint, pooled = transformer_config.joint_attention_dim, transformer_config.pooled_projection_dim
    clip = sum(e.config.hidden_size for e in encoders[:2])
    projected = sum(e.config.projection_dim for e in encoders[:2])
    if clip > joint:
        raise ValueError(f"the CLIP encoders' states ({clip} wide) exceed the transformer's joint width ({joint})")
    if projected != pooled:
        raise ValueError(f"the transformer takes pooled projections {pooled} wide, the CLIP encoders give {projected}")
    if len(encoders) == 3 and encoders[2].config.d_model != joint:
        raise ValueError(f"T5's states are {encoders[2].config.d_model} wide, the transformer's joint width is {joint}")
