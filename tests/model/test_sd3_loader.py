"""Loading SD3 pipeline folders (with and without T5), the pipeline's conditioning, and the one-line refusals."""
import json
import shutil

import pytest
import torch

from audit.model.flops import unet_flops
from audit.model.loader import ModelLoadError, load_model
from audit.model.tokenizers import load_tokenizers


def test_loads_transformer_encoders_and_flow_scheduler(tiny_sd3):
    model = load_model(str(tiny_sd3), device="cpu")
    text = model.text
    assert type(model.unet).__name__ == "SD3Transformer2DModel" and model.prediction_type == "flow"
    assert model.pipeline == "StableDiffusion3Pipeline" and text.family == "sd3" and model.alphas_cumprod is None
    assert [type(e).__name__ for e in text.encoders] == ["CLIPTextModelWithProjection"] * 2 + ["T5EncoderModel"]
    assert model.scheduler_config["_class_name"] == "FlowMatchEulerDiscreteScheduler" and model.latent_shape == (4, 8, 8)
    ids = text.tokenize(["a red cat", "b"])[0]
    assert ids.shape == (2, 77 + 77 + 256)
    states = text.encode(ids)
    assert states.mmdit and states.tokens.shape == (2, 333, 32) and states.pooled.shape == (2, 24)
    assert not states.tokens[:, :77, 16:].any() and states.tokens[:, :77, :16].abs().sum() > 0  # CLIP padded to 32
    assert states.tokens[:, 77:].abs().sum() > 0  # T5's states
    assert torch.equal(text.unconditional().tokens, text.encode(text.tokenize([""])[0]).tokens)  # the encoded ""


def test_without_t5_its_states_are_zeros(tiny_sd3_no_t5):
    text = load_model(str(tiny_sd3_no_t5), device="cpu").text
    assert len(text.encoders) == 2
    states = text.encode(text.tokenize(["a red cat"])[0])
    assert states.tokens.shape == (1, 333, 32) and not states.tokens[:, 77:].any()


def test_dedup_tokenizers_include_t5(tiny_sd3, tiny_sd3_no_t5):
    assert [limit for _, limit in load_tokenizers(str(tiny_sd3))] == [77, 77, 256]
    assert [limit for _, limit in load_tokenizers(str(tiny_sd3_no_t5))] == [77, 77]


def _with_index(folder, tmp_path, **changes):
    copy = shutil.copytree(folder, tmp_path / "m", dirs_exist_ok=True)
    index = json.loads((copy / "model_index.json").read_text())
    (copy / "model_index.json").write_text(json.dumps(index | changes))
    return str(copy)


@pytest.mark.parametrize("changes, message", [
    ({"_class_name": "FluxPipeline"}, "FluxPipeline is guidance-distilled .FLUX.1.: it has no unconditional branch"),
    ({"_class_name": "PixArtAlphaPipeline"}, "unsupported pipeline class 'PixArtAlphaPipeline'"),
    ({"tokenizer_3": [None, None]}, "text_encoder_3 and tokenizer_3 must be both present or both absent"),
    ({"scheduler": ["diffusers", "DDIMScheduler"]}, "scheduler must be FlowMatchEulerDiscreteScheduler"),
    ({"tokenizer_2": [None, None]}, "names no 'tokenizer_2' component"),
])
def test_one_line_refusals(tiny_sd3, tmp_path, changes, message):
    with pytest.raises(ModelLoadError, match=message) as err:
        load_model(_with_index(tiny_sd3, tmp_path, **changes), device="cpu")
    assert "\n" not in str(err.value)


def test_flux_folder_is_refused(tmp_path):
    index = {"_class_name": "FluxPipeline", "_diffusers_version": "0.30.0",
             "transformer": ["diffusers", "FluxTransformer2DModel"],
             "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "text_encoder_2": ["transformers", "T5EncoderModel"], "vae": ["diffusers", "AutoencoderKL"]}
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match=r"FluxPipeline is guidance-distilled \(FLUX.1\)") as err:
        load_model(str(tmp_path), device="cpu")
    assert "\n" not in str(err.value)


def test_dynamic_shifting_is_refused(tiny_sd3, tmp_path):
    folder = shutil.copytree(tiny_sd3, tmp_path / "m")
    config = folder / "scheduler" / "scheduler_config.json"
    config.write_text(json.dumps(json.loads(config.read_text()) | {"use_dynamic_shifting": True}))
    with pytest.raises(ModelLoadError, match="use_dynamic_shifting"):
        load_model(str(folder), device="cpu")


def test_encoder_widths_must_fit_the_transformer(tiny_sd3, tmp_path):
    from transformers import CLIPTextModelWithProjection

    folder = shutil.copytree(tiny_sd3, tmp_path / "m")
    encoder = CLIPTextModelWithProjection.from_pretrained(folder / "text_encoder_2")
    encoder.config.projection_dim = 8
    CLIPTextModelWithProjection(encoder.config).save_pretrained(folder / "text_encoder_2")
    with pytest.raises(ModelLoadError, match="pooled projections 24 wide, the CLIP encoders give 20"):
        load_model(str(folder), device="cpu")


def test_transformer_flops_count_attention(tiny_sd3):
    """The plan's FLOPs of SD3's transformer equal a count on real weights with the math attention kernel (whose
    matrix products the counter sees): 77 CLIP + 256 T5 tokens, latents at the model's sample size."""
    from diffusers import SD3Transformer2DModel
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    net = SD3Transformer2DModel.from_pretrained(tiny_sd3 / "transformer")
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        net(hidden_states=torch.zeros(1, 4, 8, 8), encoder_hidden_states=torch.zeros(1, 333, 32),
            pooled_projections=torch.zeros(1, 24), timestep=torch.tensor([1000.0]))
    assert unet_flops(str(tiny_sd3)) == counter.get_total_flops()
