"""Load the UNet and text encoder(s) of a single-file checkpoint (the original Stable Diffusion layout, as community
checkpoints are published) through diffusers' single-file loading, with configs from a diffusers folder."""
from __future__ import annotations

from typing import Sequence

import torch
from diffusers import UNet2DConditionModel

from audit.model.source import ModelLoadError


def load_single_file(path: str, config: str, encoders: Sequence[tuple[str, type]], dtype: torch.dtype,
                     allow_pickle: bool) -> tuple[UNet2DConditionModel, list[torch.nn.Module]]:
    """The UNet and the text encoders (`(subfolder, class)` pairs) of `path`, shaped by `config`'s configs; no
    network when `config` is a local folder. ModelLoadError when the weights do not fit the configs."""
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm, load_single_file_checkpoint

    if path.endswith(".ckpt") and not allow_pickle:
        raise ModelLoadError(f"{path}: a .ckpt file is a pickle, which can run code; load it with --allow-pickle, "
                             "or use a .safetensors checkpoint")
    try:
        checkpoint = load_single_file_checkpoint(path, local_files_only=True)
        unet = UNet2DConditionModel.from_single_file(checkpoint, config=config, subfolder="unet",
                                                     local_files_only=True, torch_dtype=dtype)
        text = [create_diffusers_clip_model_from_ldm(cls, checkpoint, subfolder=name, config=config,
                                                     torch_dtype=dtype, local_files_only=True)
                for name, cls in encoders]
    except (OSError, ValueError, KeyError, RuntimeError, IndexError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        first = f"it has no tensor {err.args[0]}" if isinstance(err, KeyError) and err.args else first
        raise ModelLoadError(f"{path}: the weights do not fit the configs of {config} ({first})") from None
    for name, module in [("unet", unet), *((n, e) for (n, _), e in zip(encoders, text))]:
        if any(p.is_meta for p in module.parameters()):  # a tensor the checkpoint did not have
            raise ModelLoadError(f"{path}: the weights do not fit the configs of {config} (some {name} weights missing)")
    return unet, text
