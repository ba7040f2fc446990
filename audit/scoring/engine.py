"""The batched scoring engine: norm and cosine terms for many captions against one shared noise bank.

Per caption it costs two conditional UNet evaluations (t_hi and t_lo in one call): the unconditional
predictions of the noise bank are computed once at construction and reused for every caption. SD3's
transformer goes the same way; its terms are computed as docs/flow-models.md derives.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Sequence

import torch

from audit.model.components import FLOW
from audit.model.conditioning import TextStates
from audit.model.loader import ModelComponents
from audit.scoring.batching import CPU_BATCH, PROBE_ROWS, batch_for_memory, free_bytes, probe_row_bytes
from audit.scoring.config import ScoreConfig
from audit.scoring.noise import noise_bank
from audit.scoring.terms import authors_sd2_norm, cosine_term, flow_to_eps, norm_term, v_to_eps
from audit.scoring.timesteps import flow_sigma, probe_timesteps


class Scorer:
    """Holds a model and its noise bank; `score` returns per-caption terms independent of batching."""

    def __init__(self, model: ModelComponents, config: ScoreConfig = ScoreConfig()):
        if config.authors_sd2 and model.prediction_type != "v_prediction":
            raise ValueError("the authors' SD 2.x formulas apply to v-prediction models only")
        if (config.batch_size is not None and config.batch_size < 1) or config.max_unet_rows < 1:
            raise ValueError("batch_size and max_unet_rows must be >= 1")
        self.model, self.config = model, config
        self._unet = model.unet
        self.t_hi, self.t_lo = probe_timesteps(model.scheduler_config)
        self.x_T = noise_bank(config.generations, model.latent_shape, config.seed).to(model.device, model.dtype)
        n = config.generations
        self._timesteps = torch.tensor([self.t_hi] * n + [self.t_lo] * n, device=model.device)
        self.flow = model.prediction_type == FLOW
        if self.flow:
            self._sigma_lo = flow_sigma(model.scheduler_config, self.t_lo)  # the norm at t_hi is on the velocity: no sigma
        else:
            self._alpha = (float(model.alphas_cumprod[self.t_hi]), float(model.alphas_cumprod[self.t_lo]))
        self.text = model.text
        self.max_length = self.text.max_length
        with torch.no_grad():  # not inference_mode: mitigation differentiates through terms that use it
            self._uncond_ids = self.tokenize([""])[0]
            self.uncond_states = self.text.unconditional(model.device)
            self._uncond = self._predict(self.uncond_states)[0]  # (2, n, C, H, W)
            self.batch_size = self._choose_batch_size()
        if config.compile:  # after the one-off unconditional call, so only caption batches are compiled
            model.unet.to(memory_format=torch.channels_last)
            self._unet = torch.compile(model.unet)

    def _choose_batch_size(self) -> int:
        """The configured batch size, else CPU_BATCH on CPU, else what one probed UNet call says fits on the GPU."""
        if self.config.batch_size is not None:
            return self.config.batch_size
        if self.model.device.type != "cuda":
            return CPU_BATCH
        rows_per_caption = 2 * self.config.generations
        captions = max(1, PROBE_ROWS // rows_per_caption)
        states = self.uncond_states.expand(captions)
        row_bytes = probe_row_bytes(lambda: self._predict(states), captions * rows_per_caption, self.model.device)
        return batch_for_memory(free_bytes(self.model.device), row_bytes, rows_per_caption, self.config.max_unet_rows)

    def _tokenize_host(self, captions: list[str]) -> tuple[torch.Tensor, list[int]]:
        """Padded, truncated token ids on the host (pinned for an asynchronous copy to a GPU), untruncated counts."""
        ids, counts = self.text.tokenize(captions)
        return (ids.pin_memory() if self.model.device.type == "cuda" else ids), counts

    def tokenize(self, captions: list[str]) -> tuple[torch.Tensor, list[int]]:
        """Token ids (B, tokenizers, L) padded and truncated to the length limit, on the model's device, and the
        untruncated counts (SDXL: the stricter tokenizer's)."""
        ids, counts = self._tokenize_host(captions)
        return ids.to(self.model.device, non_blocking=True), counts

    def _tokenized(self, batches: list[list[str]]) -> Iterator[tuple[torch.Tensor, list[int]]]:
        """Tokenized batches on the device; a background thread tokenizes batch i+1 while batch i is scored."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self._tokenize_host, batches[0]) if batches else None
            for k in range(len(batches)):
                ids, counts = pending.result()
                pending = pool.submit(self._tokenize_host, batches[k + 1]) if k + 1 < len(batches) else None
                yield ids.to(self.model.device, non_blocking=True), counts

    def _predict(self, states: TextStates) -> torch.Tensor:
        """Raw UNet outputs for every caption x {t_hi, t_lo} x latent, as float32 (B, 2, n, C, H, W)."""
        n, b = self.config.generations, len(states)
        x = self.x_T.repeat(2 * b, 1, 1, 1)
        t = self._timesteps.repeat(b)
        cond = states.apply(lambda s: s.repeat_interleave(2 * n, dim=0))
        rows = self.config.max_unet_rows
        out = torch.cat([cond[i : i + rows].denoise(self._unet, x[i : i + rows], t[i : i + rows])
                         for i in range(0, x.shape[0], rows)])
        return out.float().view(b, 2, n, *self.x_T.shape[1:])

    def _terms(self, raw_cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Norm and cosine terms, averaged over the noise bank, for (B, 2, n, C, H, W) raw outputs."""
        u, x = self._uncond, self.x_T.float()
        c_hi, c_lo, u_hi, u_lo = raw_cond[:, 0], raw_cond[:, 1], u[0], u[1]
        if self.flow:  # the norm on the velocity (eps's guidance vanishes at sigma = 1), the cosine on eps
            s_lo = self._sigma_lo
            return norm_term(c_hi, u_hi).mean(1), cosine_term(flow_to_eps(c_lo, x, s_lo), flow_to_eps(u_lo, x, s_lo)).mean(1)
        a_hi, a_lo = self._alpha
        if self.config.authors_sd2:
            return authors_sd2_norm(c_hi, u_hi, a_hi).mean(1), cosine_term(c_lo, u_lo).mean(1)
        if self.model.prediction_type == "v_prediction":
            c_hi, u_hi = v_to_eps(c_hi, x, a_hi), v_to_eps(u_hi, x, a_hi)
            c_lo, u_lo = v_to_eps(c_lo, x, a_lo), v_to_eps(u_lo, x, a_lo)
        return norm_term(c_hi, u_hi).mean(1), cosine_term(c_lo, u_lo).mean(1)

    def caption_states(self, captions: list[str]) -> TextStates:
        """Text states of captions, as the score sees them (no gradient)."""
        with torch.no_grad():
            return self.text.encode(self.tokenize(captions)[0])

    def terms_from_states(self, states: TextStates) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable norm and cosine terms for given text states, e.g. adapted embeddings."""
        return self._terms(self._predict(states))

    def score(self, captions: Sequence[str]) -> dict[str, list]:
        """Score caption strings; returns lists `norm`, `cosine`, `n_tokens`, `truncated`, `no_tokens`.

        Lists are in input order; duplicates are computed once. Every UNet call has the same shape (short
        batches are padded with copies), so a caption's numbers are bitwise the same whatever batch it comes
        in. A caption whose tokens equal those of the empty prompt (`no_tokens`) has zero guidance by
        definition: norm and cosine are exactly 0 (SDXL too, even where the unconditional branch is all zeros
        rather than the encoded empty prompt: such a caption says nothing).
        Captions must be strings; validate input rows before calling.
        """
        bad = [c for c in captions if not isinstance(c, str)]
        if bad:
            raise TypeError(f"captions must be strings, got {type(bad[0]).__name__}")
        unique = list(dict.fromkeys(captions))
        size = self.batch_size  # short batches are padded with copies: the kernels always see one shape, so a
        batches = [unique[i : i + size] for i in range(0, len(unique), size)]  # caption's numbers never depend
        padded = [b + b[-1:] * (size - len(b)) for b in batches]  # on the batch it comes in
        parts, counts = [], []
        with torch.inference_mode():  # results stay on the device until the end: no GPU sync between batches
            for batch, (ids, n_tok) in zip(batches, self._tokenized(padded)):
                k = len(batch)
                norm, cos = self._terms(self._predict(self.text.encode(ids)))
                same = (ids == self._uncond_ids).flatten(1).all(dim=1)
                parts.append(torch.stack([norm.masked_fill(same, 0.0), cos.masked_fill(same, 0.0), same.float()])[:, :k])
                counts += n_tok[:k]
        norms, coss, empty = torch.cat(parts, dim=1).tolist() if parts else ([], [], [])
        empty = [bool(e) for e in empty]
        where = {c: k for k, c in enumerate(unique)}
        pick = [where[c] for c in captions]
        return {"norm": [norms[k] for k in pick], "cosine": [coss[k] for k in pick],
                "n_tokens": [counts[k] for k in pick], "truncated": [counts[k] > self.max_length for k in pick],
                "no_tokens": [empty[k] for k in pick]}
