"""Train the canary: a small pixel-space text-to-image diffusion model that memorizes known pairs."""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, UNet2DConditionModel
from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from audit.canary.data import RESOLUTION, CanaryData, fresh_texture, scene
from audit.canary.flow import (
    JOINT_WIDTH,
    RepeatedLastTokenAttention,
    build_sd3_models,
    compact_t5,
    flow_noising,
    save_sd3_pipeline,
)
from audit.canary.lora import save_lora, with_lora
from audit.model.conditioning import SDXLConditioning, TextConditioning
from audit.model.families import SDXL_PIPELINE, T5_TOKENS
from audit.model.sd3_conditioning import SD3Conditioning

log = logging.getLogger(__name__)

SD1_SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                    clip_sample=False, set_alpha_to_one=False, steps_offset=1, timestep_spacing="leading",
                    prediction_type="epsilon")


@dataclass
class TrainConfig:
    """Recipe of one canary build; `duplicate_fraction` of all training samples are duplicated pairs."""

    seed: int = 0
    steps: int = 1200
    duplicated: int = 130
    batch_size: int = 128
    lr: float = 1e-3
    duplicate_fraction: float = 0.5
    fresh_fraction: float = 0.3
    caption_dropout: float = 0.1
    checkpoint_every: int = 400
    family: str = "sd"  # or "sdxl": two text encoders and SDXL's added conditioning; "sd3": flow matching (audit.canary.flow)
    base: str | None = None  # a pipeline folder: train a LoRA adapter of rank `lora_rank` on it, not a new model
    lora_rank: int = 0


SDXL_TIME_EMBED = 8  # width of each time id's embedding in the SDXL canary's UNet


def text_config(vocab_size: int, hidden: int, **extra) -> CLIPTextConfig:
    """A 2-layer CLIP text encoder config of a canary (BOS and EOS the vocabulary's last two entries)."""
    return CLIPTextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=2,
                          num_attention_heads=4, max_position_embeddings=77, bos_token_id=vocab_size - 2,
                          eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1, **extra)


def build_models(seed: int, family: str = "sd", vocab_size: int = 49408) -> tuple[UNet2DConditionModel, list]:
    """The canary's UNet (1.4 M parameters, attention only below full resolution) and text encoders.

    SD: one encoder of width 64. SDXL: two of width 32 (their states concatenated give the same 64), the
    second with a 32-wide pooled projection, and the UNet's `text_time` added embedding.
    """
    torch.manual_seed(seed)
    added = {}
    if family == "sd3":
        return build_sd3_models(RESOLUTION, vocab_size, text_config)
    if family == "sdxl":
        added = dict(addition_embed_type="text_time", addition_time_embed_dim=SDXL_TIME_EMBED,
                     projection_class_embeddings_input_dim=32 + 6 * SDXL_TIME_EMBED)
    elif family != "sd":
        raise ValueError(f"family must be 'sd', 'sdxl' or 'sd3', got {family!r}")
    unet = UNet2DConditionModel(
        sample_size=RESOLUTION, in_channels=3, out_channels=3, layers_per_block=1,
        block_out_channels=(32, 64, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=64, attention_head_dim=8, **added,
    )
    if family == "sd":
        return unet, [CLIPTextModel(text_config(vocab_size, 64))]
    return unet, [CLIPTextModel(text_config(vocab_size, 32)),
                  CLIPTextModelWithProjection(text_config(vocab_size, 32, projection_dim=32))]


def conditioning(family: str, tokenizers: list, encoders: list) -> TextConditioning:
    """How a canary's captions condition its UNet (SDXL: at its own pixel size, zeros for the empty prompt)."""
    if family == "sd":
        return TextConditioning(tokenizers, encoders, torch.float32)
    if family == "sd3":
        return SD3Conditioning(tokenizers, encoders, torch.float32, JOINT_WIDTH)
    return SDXLConditioning(tokenizers, encoders, torch.float32, (RESOLUTION, RESOLUTION), zeros_for_empty=True)


def training_schedule(cfg: TrainConfig, data: CanaryData) -> tuple[torch.Tensor, int]:
    """Sample ids in training order: each duplicated pair R times, every other sample used once.

    Ids below D are duplicated pairs, then S seen-once pairs, then F fresh texture pairs, then scenes.
    Returns the shuffled ids and R.
    """
    total = cfg.steps * cfg.batch_size
    n_dup, n_once = len(data.duplicated), len(data.seen_once)
    repeats = int(cfg.duplicate_fraction * total) // n_dup
    n_fresh = int(cfg.fresh_fraction * total)
    n_scenes = total - repeats * n_dup - n_once - n_fresh
    if n_scenes < 0:
        raise ValueError("too few training samples for the requested duplication")
    ids = torch.cat([torch.arange(n_dup).repeat(repeats), torch.arange(n_dup, total - n_dup * (repeats - 1))])
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    return ids[torch.randperm(len(ids), generator=gen)], repeats


def save_pipeline(out: Path, unet, text_encoder, tokenizer_dir: Path, extra: dict, text_encoder_2=None,
                  tokenizer_2_dir: Path | None = None) -> None:
    """Write a diffusers-style pipeline folder (no VAE: the canary works in pixel space).

    With a second encoder and tokenizer it is an SDXL pipeline whose empty prompt is all zeros
    (`force_zeros_for_empty_prompt`, as SDXL base); `extra` entries override the index's.
    """
    out.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(out / "unet")
    text_encoder.save_pretrained(out / "text_encoder")
    shutil.copytree(tokenizer_dir, out / "tokenizer", dirs_exist_ok=True)
    DDIMScheduler(**SD1_SCHEDULE).save_pretrained(out / "scheduler")
    index = {"_class_name": "AuditCanaryPipeline", "_diffusers_version": "0.30.0",
             "unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDIMScheduler"]}
    if text_encoder_2 is not None:
        text_encoder_2.save_pretrained(out / "text_encoder_2")
        shutil.copytree(tokenizer_2_dir, out / "tokenizer_2", dirs_exist_ok=True)
        index |= {"_class_name": SDXL_PIPELINE, "force_zeros_for_empty_prompt": True,
                  "text_encoder_2": ["transformers", type(text_encoder_2).__name__],
                  "tokenizer_2": ["transformers", "CLIPTokenizer"]}
    (out / "model_index.json").write_text(json.dumps(index | extra, indent=2))


def train(cfg: TrainConfig, data: CanaryData, tokenizer_dirs: Sequence[Path], out: Path) -> dict:
    """Train jointly from scratch, or a LoRA adapter on `cfg.base`; save a pipeline folder (or the adapter) at every
    checkpoint (out/step-N) and return stats.

    One tokenizer folder per text encoder of the family (SD: one, SDXL and SD3: two).
    """
    tokenizers = [AutoTokenizer.from_pretrained(d) for d in tokenizer_dirs]
    if cfg.base:
        unet, encoders = with_lora(Path(cfg.base), cfg.lora_rank, cfg.seed)
    else:
        unet, encoders = build_models(cfg.seed, cfg.family, len(tokenizers[0]))
    text = conditioning(cfg.family, tokenizers, encoders)
    if cfg.family == "sd3":  # the zero T5 states as one token weighed T5_TOKENS times: exact, about 4x cheaper
        unet.set_attn_processor(RepeatedLastTokenAttention(T5_TOKENS))
    sched = DDIMScheduler(**SD1_SCHEDULE)
    alphas = sched.alphas_cumprod
    encode = lambda caps: text.tokenize(caps)[0]
    texture = data.duplicated + data.seen_once
    texture_ids = encode([p.caption for p in texture])
    texture_images = torch.stack([p.image for p in texture])
    empty_ids = encode([""])[0]
    scene_cache: dict[str, torch.Tensor] = {}
    ids, repeats = training_schedule(cfg, data)
    n_fresh = int(cfg.fresh_fraction * cfg.steps * cfg.batch_size)
    params = [p for module in (unet, *encoders) for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    n_tex = len(texture)
    start, losses = time.time(), []
    for step in range(cfg.steps):
        batch = ids[step * cfg.batch_size : (step + 1) * cfg.batch_size].tolist()
        images, tokens = [], []
        for i in batch:
            if i < n_tex:
                images.append(texture_images[i])
                tokens.append(texture_ids[i])
            elif i < n_tex + n_fresh:
                caption, image = fresh_texture(i - n_tex, cfg.seed, data.common_words, data.reserved_words)
                images.append(image)
                tokens.append(encode([caption])[0])
            else:
                caption, image = scene(i - n_tex - n_fresh, cfg.seed)
                if caption not in scene_cache:
                    scene_cache[caption] = encode([caption])[0]
                images.append(image)
                tokens.append(scene_cache[caption])
        x0, tok = torch.stack(images), torch.stack(tokens)
        drop = torch.rand(len(batch), generator=gen) < cfg.caption_dropout
        tok[drop] = empty_ids
        noise = torch.randn(x0.shape, generator=gen)
        states = text.encode(tok)
        if cfg.family == "sd3":
            xt, t, target = flow_noising(x0, noise, gen)
            states = compact_t5(states)
        else:
            t = torch.randint(0, 1000, (len(batch),), generator=gen)
            a = alphas[t].view(-1, 1, 1, 1)
            xt, target = a.sqrt() * x0 + (1 - a).sqrt() * noise, noise
        if text.zeros_for_empty:  # the empty prompt is all zeros at inference: train it so
            states = states.apply(lambda s: s * (~drop).view(-1, *[1] * (s.dim() - 1)))
        loss = F.mse_loss(states.denoise(unet, xt, t), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            log.info("step %d/%d loss %.4f (%.2f s/step)", step + 1, cfg.steps, sum(losses[-50:]) / 50,
                     (time.time() - start) / (step + 1))
        if ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps) and cfg.family == "sd3":
            save_sd3_pipeline(out / f"step-{step + 1}", unet, encoders, tokenizer_dirs)
        elif ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps) and cfg.base:
            save_lora(out / f"step-{step + 1}", unet, encoders)
        elif (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            save_pipeline(out / f"step-{step + 1}", unet, encoders[0], tokenizer_dirs[0], {},
                          *(encoders[1:] + list(tokenizer_dirs[1:])))
    return {"repeats_per_duplicated_pair": repeats, "train_seconds": round(time.time() - start, 1),
            "final_loss": sum(losses[-50:]) / min(50, len(losses))}
