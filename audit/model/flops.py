"""FLOPs of one evaluation of the denoising network (a UNet, or SD3's transformer), counted from the model's config
alone (meta tensors: no weights, no memory)."""
from __future__ import annotations

import torch
from diffusers import DiffusionPipeline, SD3Transformer2DModel, UNet2DConditionModel
from torch.utils.flop_counter import FlopCounterMode

from audit.model.families import SD3_PIPELINE, T5_TOKENS
from audit.model.source import is_local

TOKENS = 77


def _sd3_call(source: str) -> tuple[torch.nn.Module, tuple, dict]:
    """SD3's transformer on the meta device and a batch-1 call: latents, 77 CLIP + T5_TOKENS states, pooled."""
    net = SD3Transformer2DModel.from_config(SD3Transformer2DModel.load_config(source, subfolder="transformer"))
    cfg = net.config
    kwargs = {"hidden_states": torch.zeros(1, cfg.in_channels, cfg.sample_size, cfg.sample_size),
              "encoder_hidden_states": torch.zeros(1, TOKENS + T5_TOKENS, cfg.joint_attention_dim),
              "pooled_projections": torch.zeros(1, cfg.pooled_projection_dim), "timestep": torch.tensor([1000.0])}
    return net, (), kwargs


def _unet_call(source: str) -> tuple[torch.nn.Module, tuple, dict]:
    """The UNet on the meta device and a batch-1 call at its latent size (SDXL: pooled embedding and time ids)."""
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(source, subfolder="unet"))
    size = unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    sample = torch.zeros(1, unet.config.in_channels, *size)
    kwargs = {"encoder_hidden_states": torch.zeros(1, TOKENS, unet.config.cross_attention_dim)}
    if unet.config.addition_embed_type == "text_time":  # SDXL: a pooled embedding and six time ids
        pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        kwargs["added_cond_kwargs"] = {"text_embeds": torch.zeros(1, pooled), "time_ids": torch.zeros(1, 6)}
    return unet, (sample, torch.tensor([1])), kwargs


def unet_flops(source: str) -> float:
    """FLOPs (2 per multiply-add) of one forward pass of the denoising network at batch 1 on its own latent size."""
    is_local(source)  # a concise error for a missing folder
    try:
        sd3 = DiffusionPipeline.load_config(source).get("_class_name") == SD3_PIPELINE
    except OSError:  # a folder of component configs alone (no model_index.json): a UNet's
        sd3 = False
    with torch.device("meta"):
        net, args, kwargs = (_sd3_call if sd3 else _unet_call)(source)
        with FlopCounterMode(display=False) as counter:
            net(*args, **kwargs)
    return float(counter.get_total_flops())
