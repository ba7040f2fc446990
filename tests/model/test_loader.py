"""Loading from a local pipeline folder: components, latent shape from the config, dtype, safetensors only."""
import shutil

import pytest
import torch
from diffusers import UNet2DConditionModel

from audit.model.loader import ModelLoadError, load_model


def test_loads_local_folder_without_vae(tiny_eps):
    model = load_model(str(tiny_eps), device="cpu")
    assert model.latent_shape == (4, 8, 8)
    assert model.prediction_type == "epsilon" and model.alphas_cumprod.shape == (1000,)
    assert type(model.text_encoder).__name__ == "CLIPTextModel"
    assert model.tokenizer("a cat").input_ids == [49406, 320, 2368, 49407]
    assert not any(p.requires_grad for p in model.unet.parameters())


def test_bfloat16(tiny_eps):
    model = load_model(str(tiny_eps), device="cpu", dtype="bfloat16")
    assert next(model.unet.parameters()).dtype == torch.bfloat16
    assert next(model.text_encoder.parameters()).dtype == torch.bfloat16


def test_pickle_weights_need_opt_in(tiny_eps, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_eps, folder)
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    shutil.rmtree(folder / "unet")
    unet.save_pretrained(folder / "unet", safe_serialization=False)
    with pytest.raises(Exception, match="safetensors"):
        load_model(str(folder), device="cpu")
    assert load_model(str(folder), device="cpu", allow_pickle=True).latent_shape == (4, 8, 8)


def test_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="no model_index.json"):
        load_model(str(tmp_path), device="cpu")
    with pytest.raises(ModelLoadError, match="no such model folder"):
        load_model(str(tmp_path / "missing"), device="cpu")
    with pytest.raises(ModelLoadError, match="unknown dtype"):
        load_model(str(tmp_path), dtype="float8")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            load_model(str(tmp_path), device="cuda")
