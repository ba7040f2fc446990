"""Load a `StableDiffusion3Pipeline` folder: the MMDiT transformer, two CLIP encoders, T5 when the folder has it,
and the flow-matching scheduler's config. The VAE is never loaded."""
from __future__ import annotations

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
from transformers import AutoTokenizer, CLIPTextModelWithProjection, T5EncoderModel

from audit.model.components import FLOW, ModelComponents
from audit.model.families import SD3_PIPELINE
from audit.model.sd3_conditioning import SD3Conditioning, check_sd3_widths
from audit.model.source import ModelLoadError, load_errors

ENCODERS = (("text_encoder", CLIPTextModelWithProjection), ("text_encoder_2", CLIPTextModelWithProjection),
            ("text_encoder_3", T5EncoderModel))
FLOW_SCHEDULER = "FlowMatchEulerDiscreteScheduler"


def _present(index: dict, part: str) -> bool:
    return isinstance(index.get(part), list) and index[part][0] is not None


def _parts(source: str, index: dict) -> int:
    """How many text encoders the folder has (2, or 3 with T5); ModelLoadError for a missing or odd component."""
    for part in ("transformer", "scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"):
        if not _present(index, part):
            raise ModelLoadError(f"{source}: model_index.json names no {part!r} component")
    if _present(index, "text_encoder_3") != _present(index, "tokenizer_3"):
        raise ModelLoadError(f"{source}: text_encoder_3 and tokenizer_3 must be both present or both absent")
    if index["scheduler"][1] != FLOW_SCHEDULER:
        raise ModelLoadError(f"{source}: an SD3 pipeline's scheduler must be {FLOW_SCHEDULER}, not {index['scheduler'][1]!r}")
    return 3 if _present(index, "text_encoder_3") else 2


def load_sd3(source: str, index: dict, device: torch.device, dtype: torch.dtype, allow_pickle: bool) -> ModelComponents:
    """The components of an SD3 / SD3.5 pipeline folder, on `device` in `dtype` (prediction type FLOW)."""
    encoders = ENCODERS[: _parts(source, index)]
    safe = None if allow_pickle else True
    with load_errors(source, allow_pickle):
        transformer = SD3Transformer2DModel.from_pretrained(source, subfolder="transformer", use_safetensors=safe,
                                                           torch_dtype=dtype)
        text_encoders = [cls.from_pretrained(source, subfolder=name, use_safetensors=safe, dtype=dtype)
                         for name, cls in encoders]
        tokenizers = [AutoTokenizer.from_pretrained(source, subfolder=name.replace("text_encoder", "tokenizer"))
                      for name, _ in encoders]
        scheduler_config = dict(FlowMatchEulerDiscreteScheduler.load_config(source, subfolder="scheduler"))
    if scheduler_config.get("use_dynamic_shifting"):
        raise ModelLoadError(f"{source}: the scheduler shifts by image size (use_dynamic_shifting), which is not supported")
    for module in (transformer, *text_encoders):
        module.to(device=device, dtype=dtype).eval().requires_grad_(False)
    try:
        check_sd3_widths(transformer.config, text_encoders)
        text = SD3Conditioning(tokenizers, text_encoders, dtype, transformer.config.joint_attention_dim)
    except (AttributeError, ValueError) as err:
        raise ModelLoadError(f"{source}: {err}") from None
    return ModelComponents(source=source, unet=transformer, text_encoder=text_encoders[0], tokenizer=tokenizers[0],
                           scheduler_config=scheduler_config, alphas_cumprod=None, prediction_type=FLOW,
                           device=device, dtype=dtype, text=text, pipeline=SD3_PIPELINE)
