"""Load UNet, text encoder, tokenizer and noise schedule from a diffusers pipeline folder or hub id.

The VAE is never loaded: scoring works on pure-noise latents and needs no decoding.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers
from diffusers import DDIMScheduler, UNet2DConditionModel
from transformers import AutoTokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEFAULT_MODEL = str(Path(__file__).resolve().parent.parent / "assets" / "canary")


class ModelLoadError(ValueError):
    """The model source cannot be loaded as a text-to-image diffusion pipeline."""


@dataclass
class ModelComponents:
    """What the score needs from a pipeline, already on its device and dtype."""

    source: str
    unet: UNet2DConditionModel
    text_encoder: torch.nn.Module
    tokenizer: object
    scheduler_config: dict
    alphas_cumprod: torch.Tensor  # float64, one entry per training timestep
    prediction_type: str
    device: torch.device
    dtype: torch.dtype

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the model's latents, read from the UNet config (never assumed)."""
        cfg = self.unet.config
        size = cfg.sample_size
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        return cfg.in_channels, h, w


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


@contextmanager
def _load_errors(source: str, allow_pickle: bool):
    """Turn library load failures into one concise ModelLoadError."""
    try:
        yield
    except (OSError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        hint = "" if allow_pickle or "safetensors" not in str(err) else " (only safetensors weights load unless --allow-pickle)"
        raise ModelLoadError(f"{source}: {first}{hint}") from None


def is_local(source: str) -> bool:
    """True for a model folder, False for a hub id; ModelLoadError for a path that names no folder."""
    if os.path.isdir(source):
        return True
    if source.startswith(("/", ".", "~")) or source.count("/") != 1:
        raise ModelLoadError(f"{source}: no such model folder")
    return False


def load_model(source: str | None = None, device: str = "auto", dtype: str = "auto",
               allow_pickle: bool = False) -> ModelComponents:
    """Load a pipeline's UNet, text encoder, tokenizer and scheduler config (default: the bundled canary).

    `dtype` 'auto' resolves by device (`resolve_dtype`). `allow_pickle` permits .bin/.pt weights; without it
    only safetensors files are accepted.
    """
    source = source or DEFAULT_MODEL
    dev = resolve_device(device)
    torch_dtype = DTYPES[resolve_dtype(dtype, dev)]
    local = is_local(source)
    index = _read_model_index(source, local)
    for part in ("unet", "text_encoder", "tokenizer", "scheduler"):
        if part not in index:
            raise ModelLoadError(f"{source}: model_index.json names no {part!r} component")
    encoder_cls = getattr(transformers, index["text_encoder"][1], None)
    if encoder_cls is None:
        raise ModelLoadError(f"{source}: text encoder class {index['text_encoder'][1]!r} is not in transformers")
    safe = None if allow_pickle else True
    with _load_errors(source, allow_pickle):
        unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", use_safetensors=safe,
                                                    torch_dtype=torch_dtype)
        text_encoder = encoder_cls.from_pretrained(source, subfolder="text_encoder", use_safetensors=safe,
                                                   dtype=torch_dtype)
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer")
        scheduler_config = dict(DDIMScheduler.load_config(source, subfolder="scheduler"))
    alphas = DDIMScheduler.from_config(scheduler_config).alphas_cumprod.to(torch.float64)
    for module in (unet, text_encoder):
        module.to(device=dev, dtype=torch_dtype).eval().requires_grad_(False)
    return ModelComponents(source=source, unet=unet, text_encoder=text_encoder, tokenizer=tokenizer,
                           scheduler_config=scheduler_config, alphas_cumprod=alphas,
                           prediction_type=scheduler_config.get("prediction_type", "epsilon"),
                           device=dev, dtype=torch_dtype)
