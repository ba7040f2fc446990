"""Load only a pipeline's tokenizers: what dataset-wide dedup needs to key captions without loading the model."""
from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer

from audit.model.source import DEFAULT_MODEL, ModelLoadError, is_local
from audit.model.token_ids import token_limit


def _components(source: str) -> dict:
    if not is_local(source):
        from huggingface_hub import hf_hub_download  # only for hub ids, i.e. users with network

        return json.loads(Path(hf_hub_download(source, "model_index.json")).read_text())
    path = Path(source) / "model_index.json"
    if not path.is_file():
        raise ModelLoadError(f"{source}: not a diffusers pipeline folder (no model_index.json)")
    return json.loads(path.read_text())


def load_tokenizers(source: str | None = None) -> list[tuple[object, int]]:
    """Each tokenizer of the pipeline (`tokenizer`, then `tokenizer_2` if any) with its token limit."""
    source = source or DEFAULT_MODEL
    index = _components(source)
    pairs = [("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2")]
    loaded = []
    for tokenizer_name, encoder_name in pairs:
        if tokenizer_name not in index:
            continue
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder=tokenizer_name)
        config = AutoConfig.from_pretrained(source, subfolder=encoder_name) if encoder_name in index else None
        loaded.append((tokenizer, token_limit(tokenizer, config)))
    if not loaded:
        raise ModelLoadError(f"{source}: model_index.json names no 'tokenizer' component")
    return loaded
