"""Command-line options shared by the commands that load a model and score captions."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from audit.model.lora_spec import parse_lora
from audit.scoring.profiles import BUILTIN, load_profile

if TYPE_CHECKING:
    from audit.scoring.stage import ScoreStage

DTYPE_NAMES = ("float32", "bfloat16", "float16")  # audit.model.loader.DTYPES, without importing torch here


def at_least(minimum: int):
    """An argparse type: an integer no smaller than `minimum`."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    return parse


def fraction(text: str) -> float:
    """An argparse type: a number within [0, 1]."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def add_model_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model and score")
    g.add_argument("--model", default=None,
                   help="diffusers pipeline folder, hub model id, or single-file checkpoint (.safetensors; .ckpt with "
                        "--allow-pickle) (default: the bundled canary model)")
    g.add_argument("--model-config", default=None, metavar="DIR_OR_ID",
                   help="for a single-file --model: the diffusers pipeline folder (or hub id) whose configs, tokenizers "
                        "and scheduler describe it")
    g.add_argument("--lora", action="append", default=[], metavar="PATH[:SCALE]",
                   help="apply a LoRA adapter file (diffusers or kohya .safetensors) to the model at SCALE (default 1); "
                        "repeat for several, applied in order")
    g.add_argument("--generations", "-n", type=int, default=1, help="noise latents averaged per caption (default 1)")
    g.add_argument("--seed", type=int, default=51, help="seed of the shared noise latents (default 51)")
    g.add_argument("--batch-size", type=at_least(1), default=None,
                   help="captions per batch (default: 32 on CPU; on a GPU the most one UNet call of "
                        "--max-unet-rows rows holds in free memory, probed once per actor)")
    g.add_argument("--max-unet-rows", type=int, default=512,
                   help="most rows in one UNet call; lower it if memory runs out (default 512)")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    g.add_argument("--dtype", default="auto", choices=("auto", *DTYPE_NAMES),
                   help="model dtype (default auto: bfloat16 on CUDA, float32 on CPU; recorded in the run metadata)")
    g.add_argument("--profile", default=None,
                   help="weights profile: a JSON file written by `evaluate`, or sd1 / sd2 / realistic-vision / "
                        "sdxl / sd3 (provisional) (default: the model folder's audit_profile.json, else by model family)")
    g.add_argument("--w-norm", type=float, default=None, help="override the norm-term weight")
    g.add_argument("--w-cos", type=float, default=None, help="override the cosine-term weight")
    g.add_argument("--authors-sd2-formulas", action="store_true",
                   help="v-prediction models: reproduce the authors' released SD 2.x formulas (raw-v cosine, "
                        "sqrt(a)(v_c-v_u)/(1-a) norm) to compare with published SD 2 numbers")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the UNet (about a minute of warm-up; +45%% captions/s on an H200 in bfloat16)")
    g.add_argument("--allow-pickle", action="store_true",
                   help="also load .bin/.pt weights (pickle can run code); default: safetensors only")


def stage_from_args(args: argparse.Namespace) -> "ScoreStage":
    """The scoring stage the options describe; a profile file is checked now, before any model loads."""
    from audit.scoring.config import ScoreConfig
    from audit.scoring.stage import ScoreStage

    if args.profile is not None and args.profile not in BUILTIN:
        load_profile(args.profile)
    loras = tuple(parse_lora(text) for text in args.lora)
    config = ScoreConfig(generations=args.generations, seed=args.seed, batch_size=args.batch_size,
                         max_unet_rows=args.max_unet_rows, authors_sd2=args.authors_sd2_formulas,
                         compile=args.compile)
    return ScoreStage(model=args.model, device=args.device, dtype=args.dtype, allow_pickle=args.allow_pickle,
                      config=config, profile=args.profile, w_norm=args.w_norm, w_cos=args.w_cos, loras=loras,
                      model_config=args.model_config)
