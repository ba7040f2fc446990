"""The pipeline class names of the model families we score, importable without torch (the CLI's parser needs them)."""
from __future__ import annotations

SDXL_PIPELINE = "StableDiffusionXLPipeline"
