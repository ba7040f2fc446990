"""The pipeline class names of the model families we score, importable without torch (the CLI's parser needs them)."""
from __future__ import annotations

SDXL_PIPELINE = "StableDiffusionXLPipeline"
SD3_PIPELINE = "StableDiffusion3Pipeline"
DISTILLED_PREFIX = "Flux"  # FluxPipeline and its variants: guidance-distilled, no unconditional branch
T5_TOKENS = 256  # the token limit of SD3's T5 encoder: the pipeline's default max_sequence_length
