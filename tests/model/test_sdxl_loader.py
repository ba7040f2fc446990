"""Loading SDXL pipeline folders: both encoders and tokenizers, SDXL's conditioning, concise errors, fingerprint."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from audit.model.fingerprint import fingerprint
from audit.model.flops import unet_flops
from audit.model.loader import ModelLoadError, load_model


def test_loads_both_encoders_and_sdxl_conditioning(tiny_sdxl):
    model = load_model(str(tiny_sdxl), device="cpu")
    text = model.text
    assert model.pipeline == "StableDiffusionXLPipeline" and text.family == "sdxl"
    assert [type(e).__name__ for e in text.encoders] == ["CLIPTextModel", "CLIPTextModelWithProjection"]
    assert [t.pad_token for t in text.tokenizers] == ["<|endoftext|>", "!"]
    assert text.zeros_for_empty and text.time_ids.tolist() == [[64, 64, 0, 0, 64, 64]]  # sample 8 x VAE scale 8
    states = text.encode(text.tokenize(["a red cat", "b"])[0])
    assert states.tokens.shape == (2, 77, 32) and states.pooled.shape == (2, 12)
    empty = text.unconditional()
    assert not empty.tokens.any() and not empty.pooled.any()
    assert unet_flops(str(tiny_sdxl)) > 0


def test_encoded_empty_prompt_when_not_forced_to_zeros(tiny_sdxl, tmp_path):
    folder = shutil.copytree(tiny_sdxl, tmp_path / "m")
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps(index | {"force_zeros_for_empty_prompt": False}))
    text = load_model(str(folder), device="cpu").text
    assert torch.equal(text.unconditional().tokens, text.encode(text.tokenize([""])[0]).tokens)
    assert text.unconditional().tokens.abs().sum() > 0


def test_sdxl_errors(tiny_sdxl, tmp_path):
    folder = shutil.copytree(tiny_sdxl, tmp_path / "m")
    index = json.loads((folder / "model_index.json").read_text())
    (folder / "model_index.json").write_text(json.dumps({k: v for k, v in index.items() if k != "tokenizer_2"}))
    with pytest.raises(ModelLoadError, match="names no 'tokenizer_2' component"):
        load_model(str(folder), device="cpu")
    (folder / "model_index.json").write_text(json.dumps(index | {"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ModelLoadError, match="'text_time' added conditioning, which only StableDiffusionXLPipeline"):
        load_model(str(folder), device="cpu")
    (folder / "model_index.json").write_text(json.dumps(index))
    config = json.loads((folder / "unet/config.json").read_text())
    (folder / "unet/config.json").write_text(json.dumps(config | {"addition_time_embed_dim": 8}))
    with pytest.raises(ModelLoadError, match="added embedding takes"):
        load_model(str(folder), device="cpu")


def test_fingerprint_covers_the_second_encoder_and_tokenizer(tiny_sdxl, tmp_path):
    folder = shutil.copytree(tiny_sdxl, tmp_path / "m")
    before = fingerprint(folder)
    weights = folder / "text_encoder_2" / "model.safetensors"
    tensors = load_file(weights)
    name = next(iter(tensors))
    save_file({**tensors, name: tensors[name] + 1e-3}, weights, metadata={"format": "pt"})
    assert fingerprint(folder) != before
    changed = fingerprint(folder)
    config = folder / "tokenizer_2" / "tokenizer_config.json"
    config.write_text(config.read_text().replace('"!"', '"<|endoftext|>"'))
    assert fingerprint(folder) != changed
