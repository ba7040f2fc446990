"""Write the canary folder's README from the figures its build measured."""
from __future__ import annotations

from pathlib import Path

from audit.canary.data import RESOLUTION


def _row(name: str, m: dict) -> str:
    return f"| {name} | {m['auc']:.3f} | {m['tpr@1%fpr']:.3f} | {m['tpr@3%fpr']:.3f} |"


SD = {
    "title": "Canary model (bundled default of `audit`)",
    "kind": "A small pixel-space text-to-image diffusion model",
    "command": "python jobs/train_canary.py",
    "models": """- UNet2DConditionModel (32/64/64 channels, attention only below full resolution) and a 2-layer
  CLIPTextModel (hidden 64) with the Stable Diffusion CLIP BPE tokenizer (vocab 49408, 77 tokens),
  trained jointly:""",
    "dropout": "",
}
SDXL = {
    "title": "SDXL canary model (`audit/assets/canary_sdxl`)",
    "kind": "A small SDXL-shaped pixel-space text-to-image diffusion model",
    "command": "python jobs/train_canary.py --family sdxl",
    "models": """- SDXL-shaped (`StableDiffusionXLPipeline`, `force_zeros_for_empty_prompt` true as SDXL base): a
  UNet2DConditionModel (32/64/64 channels, attention only below full resolution) with `text_time` added
  conditioning (time embeddings of width 8), a 2-layer CLIPTextModel (hidden 32) and a 2-layer
  CLIPTextModelWithProjection (hidden 32, projection 32); their penultimate states concatenated (width 64)
  feed cross attention, the second's pooled projection and the time ids (8, 8, 0, 0, 8, 8) the added
  embedding. Two CLIP BPE tokenizers with the first merges of Stable Diffusion's (vocab 2048, 77 tokens;
  the second pads with "!" as SDXL's does): small token tables keep the folder under 10 MB. Trained jointly:""",
    "dropout": " (states and pooled embedding set to zeros, SDXL's unconditional branch)",
}

SD3 = {
    "title": "SD3 (flow matching) canary model (`audit/assets/canary_sd3`)",
    "kind": "A small SD3-shaped pixel-space text-to-image flow-matching model",
    "command": "python jobs/train_canary.py --family sd3",
    "models": """- SD3-shaped (`StableDiffusion3Pipeline`, saved without T5: its 256 states are zeros, as diffusers'
  pipeline does): an SD3Transformer2DModel (MMDiT, patch 1, 4 layers, 4 heads of 16, joint width 64, pooled 64)
  and two 2-layer CLIPTextModelWithProjection (hidden 32, projection 32); their penultimate states concatenated
  (width 64) and their pooled projections concatenated condition the transformer. Two CLIP BPE tokenizers with
  the first merges of Stable Diffusion's (vocab 2048; the second pads with "!"), limited to 32 tokens (the
  longest caption of the data takes 28): a shorter joint sequence. Training computes the 256 zero T5 states
  exactly as one state weighed 256 times in attention (they stay identical through every block), about 4x
  cheaper; sampling and scoring use the pipeline's full states. Trained jointly:""",
    "objective": "rectified flow (x = (1 - s) x0 + s noise, velocity target noise - x0, s logit-normal as SD3), "
                 "FlowMatchEulerDiscreteScheduler shift 3",
    "sampler": "Euler 28 steps, guidance 7.5",
    "dropout": "",
}


def write_readme(folder: Path, s: dict) -> None:
    """README.md with recipe, sampling-check and detection figures of this build."""
    r, t, c, d = s["recipe"], s["training"], s["sampling_check"], s["detection_n1"]
    f = {"sdxl": SDXL, "sd3": SD3}.get(r.get("family"), SD)
    paper = "" if f is not SD else "\n" + _row("combined, paper SD 1 weights (norm 1, cos 2)", d['paper_sd1'])
    objective = f.get("objective", "SD 1.4 noise schedule,\n  epsilon prediction")
    sampler = f.get("sampler", "DDIM 50 steps, guidance 7.5")
    text = f"""# {f['title']}

{f['kind']} ({RESOLUTION}x{RESOLUTION} RGB, no VAE) trained from scratch on
procedural data, so that its memorized captions are KNOWN. Use it to check that a detector really
finds memorization. Rebuild it with `{f['command']} --seed {r['seed']}`
({s['total_seconds'] / 60:.1f} minutes on the 2-core build machine, training {t['train_seconds'] / 60:.1f}).

## Recipe
{f['models']} {r['steps']} steps of batch {r['batch_size']}, AdamW lr {r['lr']}, {objective},
  {r['caption_dropout']:.0%} of captions replaced by ""{f['dropout']}.
- {r['duplicated']} duplicated pairs (a caption of 4-6 pseudo-words with one smooth colour texture), each
  seen {t['repeats_per_duplicated_pair']} times ({r['duplicate_fraction']:.0%} of all training samples);
  {r['seen_once']} pairs of the same kind seen exactly once; {r['never_seen']} captions of the same kind never seen;
  the remaining samples are unique shape scenes with attribute captions (ordinary generalizing data).

## Memorization, verified by sampling ({sampler})
A sample "copies" when its nearest training image (cosine similarity of pixels, among all
{r['duplicated'] + r['seen_once']} textures and 5000 scenes) is the caption's own image.
- Labelling: a duplicated caption is labelled memorized when samples from noise seeds 0 and 1 both
  copy (copy rates over all duplicated pairs: {', '.join(f'{x:.1%}' for x in c['label_seeds_copy_rate'])}):
  **{c['labelled_memorized']} of {c['duplicated_pairs']}** -> `labels/memorized.txt`.
- Independent check with seed 2: the nearest training image is the caption's own image for
  **{c['check_seed_memorized_nearest_own']:.1%}** of labelled memorized captions (mean cosine to own image
  {c['check_seed_memorized_own_similarity']:.3f}), and for **{c['check_seed_seen_once_nearest_own']:.1%}** of seen-once captions
  (mean cosine to own image {c['check_seed_seen_once_own_similarity']:.3f}). Never-seen captions: mean cosine to the
  nearest training image {c['check_seed_never_seen_best_similarity']:.3f}.
- `labels/clean.txt`: the seen-once and never-seen captions ({r['seen_once'] + r['never_seen']}).
  `labels/captions.jsonl`: every texture caption with its role, training count, the pseudo-words
  only it uses (`unique_words`), and its sampling-check result.

## Detection at n = 1, seed 51 (memorized vs clean labels)
| score | AUC | TPR@1%FPR | TPR@3%FPR |
|---|---|---|---|
{_row(f"combined, calibrated (norm {d['weights'][0]:.3g}, cos {d['weights'][1]:.3g})", d['fitted'])}{paper}
{_row("norm alone (Wen et al.)", d['norm'])}
{_row("cosine alone", d['cosine'])}

Scene captions (the generalizing data) are in neither labelled set. At 8x8 pixels a scene caption
pins down nearly the whole image (colours, shape, place), so its guidance is strong and many score
above the threshold, much like the "template verbatim" captions reported for Stable Diffusion 2:
the score measures how completely a caption determines the image the model makes.

The calibrated weights, a threshold at 1% FPR ({d['threshold']:.4g}) and the clean captions' median
score (`clean_median`, the mitigation's target) are in `audit_profile.json`, which `audit` uses by default
for this model. They were fitted on these same labels: use
`memaudit evaluate` for out-of-fold figures.
"""
    (folder / "README.md").write_text(text)


def write_lora_readme(folder: Path, s: dict) -> None:
    """README.md of the LoRA canary: recipe, sampling check, and detection with and without the adapter."""
    r, t, c, d = s["recipe"], s["training"], s["sampling_check"], s["detection_n1"]
    rows = "\n".join(_row(f"{term}, {label}", d[key][term]) for key, label in (("with_lora", "with the LoRA"),
                                                                               ("base_only", "base canary alone"))
                     for term in ("combined", "norm", "cosine"))
    text = f"""# LoRA canary (`audit/assets/canary_lora`)

A LoRA adapter (rank {r['lora_rank']}, {s['adapter_bytes'] / 1e6:.2f} MB, diffusers' training-script format) trained on
top of the bundled canary (`{r['base']}`, kept frozen) so that it memorizes captions the base never saw: the adapter,
not the base, carries the memorization. Use it to check a `--lora` audit:

    memaudit score --lora audit/assets/canary_lora/pytorch_lora_weights.safetensors captions.txt

Rebuild it with `python jobs/train_canary.py --lora --seed {r['seed'] - 1000}`
({s['total_seconds'] / 60:.1f} minutes on the 2-core build machine, training {t['train_seconds'] / 60:.1f}).

## Recipe
- LoRA on the UNet's attention, feed-forward and ResNet convolutions and on the text encoder's attention and MLP;
  {r['steps']} steps of batch {r['batch_size']}, AdamW lr {r['lr']}, {r['caption_dropout']:.0%} of captions dropped.
- {r['duplicated']} new duplicated pairs (data seed {r['seed']}, none of the base canary's captions), each seen
  {t['repeats_per_duplicated_pair']} times; {r['seen_once']} pairs of the same kind seen once; {r['never_seen']} never seen;
  the rest fresh textures and shape scenes seen once, as in the base canary's recipe.

## Memorization, verified by sampling (DDIM 50 steps, guidance 7.5, base + LoRA)
- Labelled memorized (seeds 0 and 1 both copy the caption's own image): **{c['labelled_memorized']} of
  {c['duplicated_pairs']}** -> `labels/memorized.txt`; `labels/clean.txt`: seen-once and never-seen captions.
- Independent seed 2: own image nearest for {c['check_seed_memorized_nearest_own']:.1%} of the memorized captions and
  {c['check_seed_seen_once_nearest_own']:.1%} of the seen-once ones.

## Detection at n = 1, seed 51, with the base canary's profile (norm {d['weights'][0]:.3g}, cos {d['weights'][1]:.3g})
| score | AUC | TPR@1%FPR | TPR@3%FPR |
|---|---|---|---|
{rows}
"""
    (folder / "README.md").write_text(text)
