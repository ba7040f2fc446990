"""Which LoRA adapters a score applies (`--lora PATH[:SCALE]`), importable without torch: the CLI's parser needs it."""
from __future__ import annotations

import os
from dataclasses import dataclass

from audit.model.source import ModelLoadError


@dataclass(frozen=True)
class LoraSpec:
    """One adapter file and the scale its weights are applied with."""

    path: str
    scale: float = 1.0


def parse_lora(text: str) -> LoraSpec:
    """'PATH' or 'PATH:SCALE' (the last colon splits only when a number follows it); ModelLoadError for a missing file."""
    path, scale = text, 1.0
    head, sep, tail = text.rpartition(":")
    if sep and head:
        try:
            path, scale = head, float(tail)
        except ValueError:
            pass
    if not os.path.isfile(path):
        raise ModelLoadError(f"{path}: no such LoRA file")
    return LoraSpec(path, scale)
