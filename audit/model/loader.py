"""Load UNet, text encoders, tokenizers and noise schedule from a diffusers pipeline folder or hub id.

SD 1.x/2.x pipelines have one text encoder; SDXL pipelines (`StableDiffusionXLPipeline`) two, and a UNet
with added conditioning; SD3 pipelines load through `audit.model.sd3`. The VAE is never loaded: scoring works on
pure-noise latents and needs no decoding.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
import transformers
from diffusers import DDIMScheduler, UNet2DConditionModel
from transformers import AutoTokenizer

from audit.model.components import ModelComponents
from audit.model.conditioning import SDXLConditioning, check_added_width
from audit.model.families import DISTILLED_PREFIX, SD3_PIPELINE, SDXL_PIPELINE
from audit.model.lora import apply_loras
from audit.model.lora_spec import LoraSpec
from audit.model.sd3 import load_sd3
from audit.model.single_file import load_single_file
from audit.model.source import DEFAULT_MODEL, ModelLoadError, is_local, is_single_file, load_errors

__all__ = ["DEFAULT_MODEL", "ModelComponents", "ModelLoadError", "is_local", "load_model"]  # re-exported here

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str) -> torch.device:
    """'auto' picks cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> str:
    """'auto' is bfloat16 on CUDA (tensor cores, half the memory) and float32 elsewhere; others pass through."""
    if dtype == "auto":
        return "bfloat16" if device.type == "cuda" else "float32"
    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; choose auto or one of {', '.join(DTYPES)}")
    return dtype


def dtype_name(dtype: torch.dtype) -> str:
    """The DTYPES name of a torch dtype (what run metadata records)."""
    return next(name for name, value in DTYPES.items() if value == dtype)


def _read_model_index(source: str, local: bool) -> dict:
    if local:
        path = Path(source) / "model_index.json"
        if not path.is_file():
            raise ModelLoadError(f"{source}: not a diffusers pipeline folder (no model_index.json)")
        return json.loads(path.read_text())
    from huggingface_hub import hf_hub_download  # only for hub ids, i.e. users with network

    return json.loads(Path(hf_hub_download(source, "model_index.json")).read_text())


def check_supported(source: str, index: dict) -> None:
    """ModelLoadError for a guidance-distilled pipeline (FLUX) and for any pipeline that is neither SD3, SDXL nor
    built on a UNet2DConditionModel (SD 1.x / 2.x and their fine-tunes)."""
    pipeline = index.get("_class_name")
    if isinstance(pipeline, str) and pipeline.startswith(DISTILLED_PREFIX):
        raise ModelLoadError(f"{source}: {pipeline} is guidance-distilled (FLUX.1): it has no unconditional branch, "
                             "so the score (conditional minus unconditional prediction) does not exist for it")
    unet = index.get("unet")
    if pipeline not in (SD3_PIPELINE, SDXL_PIPELINE) and not (isinstance(unet, list) and unet[-1:] == ["UNet2DConditionModel"]):
        raise ModelLoadError(f"{source}: unsupported pipeline class {pipeline!r}: audit scores Stable Diffusion 1.x/2.x, "
                             f"{SDXL_PIPELINE} and {SD3_PIPELINE} folders")


def load_model(source: str | None = None, device: str = "auto", dtype: str = "auto", allow_pickle: bool = False,
               loras: Sequence[LoraSpec] = (), fuse: bool = True, config: str | None = None) -> ModelComponents:
    """Load a pipeline's UNet, text encoder, tokenizer and scheduler config (default: the bundled canary).

    `dtype` 'auto' resolves by device (`resolve_dtype`). `allow_pickle` permits .bin/.pt weights; without it
    only safetensors files are accepted. `loras` are applied in order (fused into the weights unless not `fuse`).
    A single-file checkpoint (`source` a .safetensors or .ckpt file) takes its configs, tokenizers and scheduler
    from `config`, a diffusers pipeline folder or hub id.
    """
    source = source or DEFAULT_MODEL
    dev = resolve_device(device)
    torch_dtype = DTYPES[resolve_dtype(dtype, dev)]
    single = is_single_file(source)
    if single and config is None:
        raise ModelLoadError(f"{source}: a single-file checkpoint needs --model-config, the diffusers folder whose "
                             "configs describe it")
    if config is not None and not single:
        raise ModelLoadError(f"--model-config {config}: only a single-file checkpoint (.safetensors, .ckpt) takes "
                             f"one, not {source}")
    described = config if single else source  # where the configs, tokenizers and scheduler come from
    index = _read_model_index(described, is_local(described))
    pipeline = index.get("_class_name")
    check_supported(described, index)
    if pipeline == SD3_PIPELINE:
        if single or loras:
            raise ModelLoadError(f"{source}: LoRA adapters and single-file checkpoints load for Stable Diffusion "
                                 f"1.x/2.x and {SDXL_PIPELINE} only, not {SD3_PIPELINE}")
        return load_sd3(source, index, dev, torch_dtype, allow_pickle)
    sdxl = pipeline == SDXL_PIPELINE
    encoders = ("text_encoder", "text_encoder_2") if sdxl else ("text_encoder",)
    for part in ("unet", "tokenizer", "scheduler", *encoders, *(e.replace("text_encoder", "tokenizer") for e in encoders)):
        if not isinstance(index.get(part), list) or index[part][0] is None:
            raise ModelLoadError(f"{source}: model_index.json names no {part!r} component")
    classes = [getattr(transformers, index[e][1], None) for e in encoders]
    for name, cls in zip(encoders, classes):
        if cls is None:
            raise ModelLoadError(f"{source}: {name} class {index[name][1]!r} is not in transformers")
    safe = None if allow_pickle else True
    if single:
        unet, text_encoders = load_single_file(source, described, list(zip(encoders, classes)), torch_dtype,
                                               allow_pickle)
    with load_errors(described, allow_pickle):
        if not single:
            unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", use_safetensors=safe,
                                                        torch_dtype=torch_dtype)
            text_encoders = [cls.from_pretrained(source, subfolder=name, use_safetensors=safe, dtype=torch_dtype)
                             for name, cls in zip(encoders, classes)]
        tokenizers = [AutoTokenizer.from_pretrained(described, subfolder=name.replace("text_encoder", "tokenizer"))
                      for name in encoders]
        scheduler_config = dict(DDIMScheduler.load_config(described, subfolder="scheduler"))
        image_size = _image_size(described, index, unet.config) if sdxl else None
    added = unet.config.addition_embed_type
    if sdxl and added != "text_time":
        raise ModelLoadError(f"{source}: an SDXL UNet takes 'text_time' added conditioning, this one {added!r}")
    if not sdxl and added is not None:
        raise ModelLoadError(f"{source}: the UNet takes {added!r} added conditioning, which only {SDXL_PIPELINE} "
                             "folders ('text_time') are loaded with")
    alphas = DDIMScheduler.from_config(scheduler_config).alphas_cumprod.to(torch.float64)
    if loras:
        apply_loras(unet, text_encoders, loras, fuse)
    for module in (unet, *text_encoders):
        module.to(device=dev, dtype=torch_dtype).eval().requires_grad_(False)
    text = None
    if sdxl:
        try:
            check_added_width(unet.config, text_encoders[-1].config.projection_dim)
            text = SDXLConditioning(tokenizers, text_encoders, torch_dtype, image_size,
                                    bool(index.get("force_zeros_for_empty_prompt", True)))
        except (AttributeError, ValueError) as err:
            raise ModelLoadError(f"{source}: {err}") from None
    return ModelComponents(source=source, unet=unet, text_encoder=text_encoders[0], tokenizer=tokenizers[0],
                           scheduler_config=scheduler_config, alphas_cumprod=alphas,
                           prediction_type=scheduler_config.get("prediction_type", "epsilon"),
                           device=dev, dtype=torch_dtype, text=text, pipeline=pipeline)


def _image_size(source: str, index: dict, unet_config) -> tuple[int, int]:
    """(height, width) of the images SDXL conditions on by default: the UNet's sample size times the VAE's scale.

    As diffusers' pipeline: scale 2**(len(vae block_out_channels) - 1) (8 for SDXL: 1024 x 1024). A pipeline
    without a VAE works in pixel space (the canary): scale 1, where diffusers, which cannot run it, assumes 8.
    """
    size = unet_config.sample_size
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if not isinstance(index.get("vae"), list) or index["vae"][0] is None:
        return h, w
    from diffusers import AutoencoderKL

    scale = 2 ** (len(AutoencoderKL.load_config(source, subfolder="vae")["block_out_channels"]) - 1)
    return h * scale, w * scale
