"""Tiny random SD3-shaped pipeline folders (StableDiffusion3Pipeline layout), built offline for the tests."""
from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import torch

T5_PIECES = ["<pad>", "</s>", "<unk>", "▁"] + list(string.ascii_lowercase + string.digits) + \
    ["▁" + c for c in string.ascii_lowercase] + ["▁a", "▁the", "at", "og", "▁cat", "▁dog", "▁red"]


def write_t5_tokenizer(out: Path) -> int:
    """A small unigram T5-style tokenizer (pad 0, eos 1, unk 2; ids end with </s>) saved in `out`; its vocab size."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    pieces = list(dict.fromkeys(T5_PIECES))
    vocab = [(p, 0.0 if i < 3 else -float(len(pieces) - len(p))) for i, p in enumerate(pieces)]
    backend = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    T5TokenizerFast(tokenizer_object=backend, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=0,
                    model_max_length=512).save_pretrained(out)
    return len(pieces)


def build_tiny_sd3_pipeline(out: Path, clip_tokenizer: Path, t5: bool = True, seed: int = 0) -> Path:
    """A random SD3 pipeline: MMDiT transformer (4 x 8 x 8 latents, joint width 32), two CLIP encoders with projection
    (8 wide each: their states are zero-padded to 32; pooled 12 + 12), T5 (32 wide) unless `t5` is False (then saved
    as [null, null], as diffusers does), a shift-3 flow-matching scheduler, and a VAE config but no VAE weights."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    from audit.canary.tokenizer import write_clip_tokenizer

    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=4, out_channels=4, num_layers=2, attention_head_dim=8,
                          num_attention_heads=2, joint_attention_dim=32, caption_projection_dim=16,
                          pooled_projection_dim=24, pos_embed_max_size=8).save_pretrained(out / "transformer")
    clip = lambda vocab: CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=vocab, hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=77, bos_token_id=vocab - 2, eos_token_id=vocab - 1, pad_token_id=vocab - 1, projection_dim=12))
    clip(49408).save_pretrained(out / "text_encoder")
    clip(1024).save_pretrained(out / "text_encoder_2")
    shutil.copytree(clip_tokenizer, out / "tokenizer", dirs_exist_ok=True)
    write_clip_tokenizer(clip_tokenizer / "merges.txt", out / "tokenizer_2", vocab_size=1024, pad_token="!")
    FlowMatchEulerDiscreteScheduler(shift=3.0).save_pretrained(out / "scheduler")
    (out / "vae").mkdir(exist_ok=True)
    (out / "vae" / "config.json").write_text('{"_class_name": "AutoencoderKL", "block_out_channels": [8, 8, 8, 8]}')
    index = {"_class_name": "StableDiffusion3Pipeline", "_diffusers_version": "0.30.0",
             "transformer": ["diffusers", "SD3Transformer2DModel"], "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
             "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
             "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "tokenizer_2": ["transformers", "CLIPTokenizer"], "text_encoder_3": [None, None], "tokenizer_3": [None, None],
             "image_encoder": [None, None], "feature_extractor": [None, None]}
    if t5:
        vocab = write_t5_tokenizer(out / "tokenizer_3")
        T5EncoderModel(T5Config(vocab_size=vocab, d_model=32, d_ff=48, d_kv=8, num_layers=1, num_heads=4,
                                relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
                                decoder_start_token_id=0)).save_pretrained(out / "text_encoder_3")
        index |= {"text_encoder_3": ["transformers", "T5EncoderModel"], "tokenizer_3": ["transformers", "T5TokenizerFast"]}
    (out / "model_index.json").write_text(json.dumps(index, indent=2))
    return out
