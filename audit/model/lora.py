"""Apply LoRA adapters to a loaded UNet and text encoder(s) through diffusers' own LoRA loaders (peft backend).

Each file may be in diffusers' training-script format or kohya's: diffusers converts it. Adapters are fused into
the weights by default, which scores faster on the CPU (README, "Auditing a fine-tune"); unfused gives the same
scores.
"""
from __future__ import annotations

from typing import Sequence

import torch

from audit.model.lora_spec import LoraSpec
from audit.model.source import ModelLoadError

TEXT_PREFIXES = ("text_encoder", "text_encoder_2")  # the keys' prefixes of the first and the second text encoder


def _loaded(module: torch.nn.Module, names: list[str]) -> list[str]:
    """The adapter names among `names` that a module holds (a file may leave the text encoders alone)."""
    held = getattr(module, "peft_config", None) or {}
    return [n for n in names if n in held]


def apply_loras(unet: torch.nn.Module, encoders: Sequence[torch.nn.Module], loras: Sequence[LoraSpec],
                fuse: bool = True) -> None:
    """Load every adapter at its scale into the UNet and, where its file has them, the text encoders; with `fuse`,
    merge them into the weights and remove the adapter layers. ModelLoadError when a file does not load."""
    from diffusers.loaders import StableDiffusionXLLoraLoaderMixin as Loader
    from diffusers.loaders.lora_base import fuse_text_encoder_lora, set_adapters_for_text_encoder
    from diffusers.utils import recurse_remove_peft_layers

    names = [f"lora{i}" for i in range(len(loras))]
    for name, spec in zip(names, loras):
        try:
            state, alphas, meta = Loader.lora_state_dict(spec.path, return_lora_metadata=True)
            if not any(key.startswith("unet.") for key in state):
                raise ValueError("it holds no UNet weights")
            Loader.load_lora_into_unet(state, alphas, unet, adapter_name=name, metadata=meta)
            for prefix, encoder in zip(TEXT_PREFIXES, encoders):
                Loader.load_lora_into_text_encoder(state, alphas, encoder, prefix=prefix, adapter_name=name,
                                                   metadata=meta)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelLoadError(f"{spec.path}: not a LoRA for this model ({first})") from None
    scales = dict(zip(names, (spec.scale for spec in loras)))
    unet.set_adapters(names, [scales[n] for n in names])
    for encoder in encoders:
        held = _loaded(encoder, names)
        if held:
            set_adapters_for_text_encoder(held, encoder, [scales[n] for n in held])
    if not fuse:
        return
    unet.fuse_lora(adapter_names=names)
    unet.unload_lora()
    for encoder in encoders:
        held = _loaded(encoder, names)
        if held:
            fuse_text_encoder_lora(encoder, adapter_names=held)
            recurse_remove_peft_layers(encoder)
