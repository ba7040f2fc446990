"""Load only a pipeline's tokenizers: what dataset-wide dedup needs to key captions without loading the model."""
from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer

from audit.model.families import T5_TOKENS
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
    """Each tokenizer of the pipeline (`tokenizer`, then `tokenizer_2` and SD3's T5 `tokenizer_3` if present) with
    its token limit (T5's: the SD3 pipeline's T5_TOKENS)."""
    source = source or DEFAULT_MODEL
    index = _components(source)
    present = lambda name: isinstance(index.get(name), list) and index[name][0] is not None
    pairs = [("tokenizer", "text_encoder"), ("tokenizer_2", "text_encoder_2"), ("tokenizer_3", "text_encoder_3")]
    loaded = []
    for tokenizer_name, encoder_name in pairs:
        if not present(tokenizer_name):
            continue
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder=tokenizer_name)
        if tokenizer_name == "tokenizer_3":
            loaded.append((tokenizer, T5_TOKENS))
            continue
        config = AutoConfig.from_pretrained(source, subfolder=encoder_name) if present(encoder_name) else None
        loaded.append((tokenizer, token_limit(tokenizer, config)))
    if not loaded:
        raise ModelLoadError(f"{source}: model_index.json names no 'tokenizer' component")
    return loaded
