"""FLOPs of one UNet evaluation, counted from the model's config alone (meta tensors: no weights, no memory)."""
from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel
from torch.utils.flop_counter import FlopCounterMode

from audit.model.source import is_local

TOKENS = 77


def unet_flops(source: str) -> float:
    """FLOPs (2 per multiply-add) of one UNet forward pass at batch 1 on the model's own latent size."""
    is_local(source)  # a concise error for a missing folder
    config = UNet2DConditionModel.load_config(source, subfolder="unet")
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(config)
        size = unet.config.sample_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        sample = torch.zeros(1, unet.config.in_channels, *size)
        states = torch.zeros(1, TOKENS, unet.config.cross_attention_dim)
        added = {}
        if unet.config.addition_embed_type == "text_time":  # SDXL: a pooled embedding and six time ids
            pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
            added = {"added_cond_kwargs": {"text_embeds": torch.zeros(1, pooled), "time_ids": torch.zeros(1, 6)}}
        with FlopCounterMode(display=False) as counter:
            unet(sample, torch.tensor([1]), encoder_hidden_states=states, **added)
    return float(counter.get_total_flops())
