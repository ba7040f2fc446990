"""`--lora`: adapters applied through diffusers' loaders score as diffusers' own fuse-and-save does, fused or not,
on SD (the LoRA canary) and SDXL (a random adapter on both text encoders and the UNet)."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from audit.model.fingerprint import adapter_identity, content_digest, with_adapters
from audit.model.loader import DEFAULT_MODEL, ModelLoadError, load_model
from audit.model.lora_spec import LoraSpec, parse_lora
from audit.scoring.engine import ScoreConfig, Scorer

CANARY = Path(DEFAULT_MODEL)
LORA = CANARY.parent / "canary_lora" / "pytorch_lora_weights.safetensors"
CAPTIONS = (CANARY.parent / "canary_lora" / "labels" / "memorized.txt").read_text().splitlines()[:12] + \
    (CANARY.parent / "canary_lora" / "labels" / "clean.txt").read_text().splitlines()[:12]


def scores(model: str, **load) -> np.ndarray:
    result = Scorer(load_model(model, device="cpu", **load), ScoreConfig(generations=2, seed=51)).score(CAPTIONS)
    return np.array([result["norm"], result["cosine"]])


def fused_and_saved_by_diffusers(base: Path, lora: Path, scale: float, out: Path) -> Path:
    """The reference: diffusers' pipeline loads the LoRA, fuses it at `scale`, unloads it and saves the weights."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel

    pipe = StableDiffusionPipeline(vae=None, text_encoder=CLIPTextModel.from_pretrained(base, subfolder="text_encoder"),
                                   tokenizer=AutoTokenizer.from_pretrained(base, subfolder="tokenizer"),
                                   unet=UNet2DConditionModel.from_pretrained(base, subfolder="unet"),
                                   scheduler=DDIMScheduler.from_pretrained(base, subfolder="scheduler"),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.load_lora_weights(str(lora), adapter_name="reference")
    pipe.fuse_lora(lora_scale=scale, adapter_names=["reference"])
    pipe.unload_lora_weights()
    shutil.copytree(base, out, ignore=shutil.ignore_patterns("unet", "text_encoder"))
    pipe.unet.save_pretrained(out / "unet")
    pipe.text_encoder.save_pretrained(out / "text_encoder")
    return out


def test_lora_scores_equal_diffusers_fuse_and_save(tmp_path):
    reference = fused_and_saved_by_diffusers(CANARY, LORA, 0.7, tmp_path / "fused")
    applied = scores(str(CANARY), loras=[LoraSpec(str(LORA), 0.7)])
    np.testing.assert_allclose(applied, scores(str(reference)), atol=1e-5, rtol=0)
    assert np.abs(applied - scores(str(CANARY))).max() > 1e-2  # the adapter changes the scores


def test_fused_and_unfused_score_the_same():
    spec = [LoraSpec(str(LORA), 0.8)]
    unfused = load_model(str(CANARY), device="cpu", loras=spec, fuse=False)
    assert any("lora" in name for name, _ in unfused.unet.named_modules())
    fused = load_model(str(CANARY), device="cpu", loras=spec)
    assert not any("lora" in name for name, _ in fused.unet.named_modules())
    np.testing.assert_allclose(scores(str(CANARY), loras=spec), scores(str(CANARY), loras=spec, fuse=False), atol=1e-5)


def random_sdxl_lora(base: Path, out: Path) -> Path:
    """A random LoRA on a tiny SDXL pipeline's UNet and both text encoders, saved by diffusers' SDXL writer."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_pretrained(base, subfolder="unet")
    encoders = [CLIPTextModel.from_pretrained(base, subfolder="text_encoder"),
                CLIPTextModelWithProjection.from_pretrained(base, subfolder="text_encoder_2")]
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    for encoder in encoders:
        encoder.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for module in (unet, *encoders):
            for name, p in module.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.2)
    layers = [get_peft_model_state_dict(m) for m in (unet, *encoders)]
    StableDiffusionXLPipeline.save_lora_weights(out, unet_lora_layers=layers[0], text_encoder_lora_layers=layers[1],
                                                text_encoder_2_lora_layers=layers[2])
    return out / "pytorch_lora_weights.safetensors"


def test_sdxl_lora_reaches_both_text_encoders_fused_or_not(tiny_sdxl, tmp_path):
    lora = random_sdxl_lora(tiny_sdxl, tmp_path)
    unfused = load_model(str(tiny_sdxl), device="cpu", loras=[LoraSpec(str(lora))], fuse=False)
    assert all(getattr(e, "peft_config", None) for e in unfused.text.encoders)  # both encoders took the adapter
    ids = unfused.text.tokenize(["a lighthouse at dusk"])[0]
    fused = load_model(str(tiny_sdxl), device="cpu", loras=[LoraSpec(str(lora))])
    plain = load_model(str(tiny_sdxl), device="cpu")
    with torch.no_grad():
        states = [m.text.encode(ids) for m in (unfused, fused, plain)]
    torch.testing.assert_close(states[0].tokens, states[1].tokens, atol=1e-5, rtol=0)
    torch.testing.assert_close(states[0].pooled, states[1].pooled, atol=1e-5, rtol=0)
    assert (states[0].pooled - states[2].pooled).abs().max() > 1e-3  # the second encoder's adapter applies
    caption = ["a lighthouse at dusk"]
    one, two = (Scorer(m, ScoreConfig(seed=51)).score(caption)["norm"][0] for m in (unfused, fused))
    assert abs(one - two) < 1e-5


def test_lora_argument_parsing_and_errors(tmp_path):
    assert parse_lora(str(LORA)) == LoraSpec(str(LORA), 1.0)
    assert parse_lora(f"{LORA}:0.5") == LoraSpec(str(LORA), 0.5)
    odd = tmp_path / "a:b.safetensors"  # a colon inside the name, no scale
    shutil.copy(LORA, odd)
    assert parse_lora(str(odd)) == LoraSpec(str(odd), 1.0)
    with pytest.raises(ModelLoadError, match="no such LoRA file"):
        parse_lora(str(tmp_path / "missing.safetensors:0.5"))
    not_lora = CANARY / "unet" / "diffusion_pytorch_model.safetensors"
    with pytest.raises(ModelLoadError, match="not a LoRA for this model") as err:
        load_model(str(CANARY), device="cpu", loras=[LoraSpec(str(not_lora))])
    assert "\n" not in str(err.value)


def test_adapters_change_the_fingerprint_with_their_scale():
    base = "sha256:0123456789abcdef"
    one, half = adapter_identity([LoraSpec(str(LORA), 1.0)]), adapter_identity([LoraSpec(str(LORA), 0.5)])
    assert one[0]["sha256"] == content_digest(LORA) and one[0]["scale"] == 1.0
    assert with_adapters(base, []) == base
    assert len({base, with_adapters(base, one), with_adapters(base, half)}) == 3
