"""Write a diffusers SD pipeline's UNet and text encoder as one checkpoint in the original Stable Diffusion (LDM)
layout, the form community single-file checkpoints take: what `--model FILE` must read back."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0",
          "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
FIXED = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
         "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
         "mid_block.resnets.0": "middle_block.0", "mid_block.attentions.0": "middle_block.1",
         "mid_block.resnets.1": "middle_block.2"}


def _block_prefixes(unet) -> dict[str, str]:
    """diffusers module prefix -> LDM module prefix, for every block of an SD UNet."""
    per = unet.config.layers_per_block
    names = dict(FIXED)
    for i, block in enumerate(unet.down_blocks):
        for j in range(len(block.resnets)):
            names[f"down_blocks.{i}.resnets.{j}"] = f"input_blocks.{1 + i * (per + 1) + j}.0"
            if getattr(block, "attentions", None):
                names[f"down_blocks.{i}.attentions.{j}"] = f"input_blocks.{1 + i * (per + 1) + j}.1"
        if block.downsamplers:
            names[f"down_blocks.{i}.downsamplers.0.conv"] = f"input_blocks.{(i + 1) * (per + 1)}.0.op"
    for i, block in enumerate(unet.up_blocks):
        attention = bool(getattr(block, "attentions", None))
        for j in range(len(block.resnets)):
            names[f"up_blocks.{i}.resnets.{j}"] = f"output_blocks.{i * (per + 1) + j}.0"
            if attention:
                names[f"up_blocks.{i}.attentions.{j}"] = f"output_blocks.{i * (per + 1) + j}.1"
        if block.upsamplers:
            names[f"up_blocks.{i}.upsamplers.0.conv"] = f"output_blocks.{i * (per + 1) + per}.{2 if attention else 1}.conv"
    return names


def _unet_key(key: str, prefixes: dict[str, str]) -> str:
    prefix = max((p for p in prefixes if key.startswith(p + ".")), key=len)
    rest = key[len(prefix) + 1:]
    if ".resnets." in prefix or prefix.startswith("mid_block.resnets"):
        head, _, tail = rest.partition(".")
        rest = f"{RESNET[head]}.{tail}"
    return f"model.diffusion_model.{prefixes[prefix]}.{rest}"


def write_ldm_checkpoint(unet, text_encoder, path: Path) -> None:
    """One .safetensors (or, for a .ckpt path, a torch pickle) with the UNet and text encoder in the LDM layout."""
    prefixes = _block_prefixes(unet)
    state = {_unet_key(k, prefixes): v for k, v in unet.state_dict().items()}
    for key, value in text_encoder.state_dict().items():
        key = key if key.startswith("text_model.") else f"text_model.{key}"
        state[f"cond_stage_model.transformer.{key}"] = value
    state = {k: v.contiguous() for k, v in state.items()}
    if path.suffix == ".ckpt":
        torch.save({"state_dict": state}, path)
    else:
        save_file(state, path)
