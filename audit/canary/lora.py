"""The LoRA canary: a LoRA adapter, trained on top of the bundled canary, that memorizes captions the base never saw.

The adapter (rank `LORA_RANK`) sits on the UNet's attention, feed-forward and ResNet convolutions and on the text
encoder's attention and MLP layers; it is saved in diffusers' training-script format (`pytorch_lora_weights.safetensors`).
"""
from __future__ import annotations

from pathlib import Path

import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel

LORA_RANK = 12
LORA_FILE = "pytorch_lora_weights.safetensors"
UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2", "conv1", "conv2"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]


def with_lora(base: Path, rank: int, seed: int) -> tuple[UNet2DConditionModel, list[torch.nn.Module]]:
    """The base pipeline's UNet and text encoder, frozen, each with a fresh trainable LoRA adapter."""
    from peft import LoraConfig

    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
    encoder = CLIPTextModel.from_pretrained(base, subfolder="text_encoder")
    torch.manual_seed(seed)
    for module, targets in ((unet, UNET_TARGETS), (encoder, TEXT_TARGETS)):
        module.requires_grad_(False)
        module.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=targets))
    return unet, [encoder]


def save_lora(out: Path, unet: UNet2DConditionModel, encoders: list[torch.nn.Module]) -> None:
    """Write the adapters as diffusers' LoRA training scripts do (`out/pytorch_lora_weights.safetensors`), in peft's
    key format (diffusers' older `lora.down` names, which it gives attention layers only, do not load back mixed), the
    text encoder's under `text_model.` as transformers 4 names its layers (transformers 5 loads either)."""
    from diffusers import StableDiffusionPipeline
    from peft.utils import get_peft_model_state_dict

    text = {k if k.startswith("text_model.") else f"text_model.{k}": v for k, v in get_peft_model_state_dict(encoders[0]).items()}
    StableDiffusionPipeline.save_lora_weights(out, unet_lora_layers=get_peft_model_state_dict(unet),
                                              text_encoder_lora_layers=text, safe_serialization=True)
