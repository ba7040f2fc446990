"""How captions condition a UNet: tokenize, encode, and the unconditional branch, per model family.

SD 1.x/2.x: one CLIP tokenizer and encoder; the UNet takes the encoder's last hidden states.
SDXL: two tokenizers and encoders; the UNet takes both encoders' penultimate hidden states concatenated,
plus the second encoder's pooled projection (`text_embeds`) and size/crop `time_ids` (diffusers' conventions).
SD3 (`audit.model.sd3_conditioning`): token states and pooled projections for an MMDiT transformer (`mmdit`).
Token ids of several tokenizers are concatenated along the token axis: (B, sum of the tokenizers' limits).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Sequence

import torch

from audit.model.token_ids import TokenIds, token_limit, tokenize


@dataclass(frozen=True)
class TextStates:
    """A batch's text conditioning: token states (B, L, D), and for SDXL pooled embeddings (B, P) with the
    model's time ids (1, 6), shared by every row; `mmdit`: they condition SD3's transformer (tokens, pooled)."""

    tokens: torch.Tensor
    pooled: torch.Tensor | None = None
    time_ids: torch.Tensor | None = None
    mmdit: bool = False

    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> TextStates:
        """The same conditioning with `fn` applied to each per-row tensor (tokens, pooled)."""
        return replace(self, tokens=fn(self.tokens), pooled=None if self.pooled is None else fn(self.pooled))

    def __getitem__(self, index) -> TextStates:
        return self.apply(lambda t: t[index])

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def expand(self, rows: int) -> TextStates:
        """A one-row conditioning repeated as `rows` rows (a view)."""
        return self.apply(lambda t: t.expand(rows, *t.shape[1:]))

    def tensors(self) -> list[torch.Tensor]:
        """The per-row tensors (what mitigation adapts)."""
        return [self.tokens] if self.pooled is None else [self.tokens, self.pooled]

    def named(self) -> dict[str, torch.Tensor]:
        """The tensors under diffusers' pipeline argument names (`prompt_embeds`, `pooled_prompt_embeds`)."""
        names = {"prompt_embeds": self.tokens}
        return names if self.pooled is None else {**names, "pooled_prompt_embeds": self.pooled}

    def denoise(self, net: torch.nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The network's raw output for latents `x` at timesteps `t`, one row of these states per latent."""
        if self.mmdit:
            return net(hidden_states=x, timestep=t, encoder_hidden_states=self.tokens, pooled_projections=self.pooled).sample
        return net(x, t, **self.unet_kwargs()).sample

    def unet_kwargs(self) -> dict:
        """Keyword arguments of a UNet call conditioned on these rows."""
        if self.pooled is None:
            return {"encoder_hidden_states": self.tokens}
        time_ids = self.time_ids.to(self.pooled.dtype).expand(len(self), -1)
        return {"encoder_hidden_states": self.tokens, "added_cond_kwargs": {"text_embeds": self.pooled, "time_ids": time_ids}}

    @staticmethod
    def cat(parts: Sequence[TextStates]) -> TextStates:
        """Rows of several conditionings of one model, in order."""
        pooled = None if parts[0].pooled is None else torch.cat([p.pooled for p in parts])
        return replace(parts[0], tokens=torch.cat([p.tokens for p in parts]), pooled=pooled)


class TextConditioning:
    """SD 1.x / 2.x: one tokenizer and text encoder, whose last hidden states condition the UNet."""

    family = "sd"
    zeros_for_empty = False

    def __init__(self, tokenizers: Sequence, encoders: Sequence[torch.nn.Module], dtype: torch.dtype):
        self.tokenizers, self.encoders, self.dtype = list(tokenizers), list(encoders), dtype
        limits = {token_limit(t, e.config) for t, e in zip(self.tokenizers, self.encoders)}
        if len(limits) != 1:
            raise ValueError(f"the tokenizers' length limits differ ({sorted(limits)}): their states cannot be concatenated")
        self.max_length = limits.pop()
        self.token_ids = [TokenIds(t, self.max_length) for t in self.tokenizers]

    def tokenize(self, captions: list[str]) -> tuple[torch.Tensor, list[int]]:
        """Token ids (B, tokenizers x L), padded and truncated, and each caption's untruncated count (the larger
        of the tokenizers' counts: the stricter)."""
        ids, counts = tokenize(self.token_ids, captions)
        return torch.from_numpy(ids), counts

    def encode(self, ids: torch.Tensor) -> TextStates:
        """Text states of token ids (B, tokenizers x L), in the model's dtype."""
        return TextStates(self.encoders[0](ids[:, : self.max_length])[0].to(self.dtype))

    def unconditional(self, device: torch.device | str = "cpu") -> TextStates:
        """The unconditional branch: the encoded empty prompt (one row)."""
        return self.encode(self.tokenize([""])[0].to(device))


class SDXLConditioning(TextConditioning):
    """SDXL: both encoders' penultimate hidden states concatenated, the last encoder's pooled projection and
    time ids (original size, crop (0, 0), target size); the unconditional branch is all zeros when
    `zeros_for_empty` (diffusers' `force_zeros_for_empty_prompt`), else the encoded empty prompt."""

    family = "sdxl"

    def __init__(self, tokenizers: Sequence, encoders: Sequence[torch.nn.Module], dtype: torch.dtype,
                 image_size: tuple[int, int], zeros_for_empty: bool):
        super().__init__(tokenizers, encoders, dtype)
        self.zeros_for_empty = zeros_for_empty
        self.time_ids = torch.tensor([[*image_size, 0, 0, *image_size]], dtype=dtype)

    def encode(self, ids: torch.Tensor) -> TextStates:
        size = self.max_length
        outs = [enc(ids[:, k * size : (k + 1) * size], output_hidden_states=True) for k, enc in enumerate(self.encoders)]
        tokens = torch.cat([o.hidden_states[-2] for o in outs], dim=-1).to(self.dtype)
        return TextStates(tokens, outs[-1][0].to(self.dtype), self.time_ids.to(ids.device))

    def unconditional(self, device: torch.device | str = "cpu") -> TextStates:
        states = super().unconditional(device)
        return states.apply(torch.zeros_like) if self.zeros_for_empty else states


def token_embedding(encoder: torch.nn.Module) -> torch.nn.Module:
    """The module that embeds a text encoder's token ids in its forward pass: T5's encoder calls its own
    `embed_tokens`, not the model's `get_input_embeddings()`; CLIP calls the latter."""
    inner = getattr(getattr(encoder, "encoder", None), "embed_tokens", None)
    return inner if isinstance(inner, torch.nn.Module) else encoder.get_input_embeddings()


def check_added_width(unet_config, projection_dim: int) -> None:
    """ValueError unless the UNet's added embedding takes the pooled projection plus six time-id embeddings."""
    given = 6 * unet_config.addition_time_embed_dim + projection_dim
    if given != unet_config.projection_class_embeddings_input_dim:
        raise ValueError(f"the UNet's added embedding takes {unet_config.projection_class_embeddings_input_dim} values, "
                         f"but the pooled projection ({projection_dim}) and six time ids give {given}")
