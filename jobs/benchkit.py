"""Helpers shared by the benchmark scripts in jobs/: random-weight model architectures, synthetic LAION
Parquet sets, synthetic captions and a captions-per-second timer."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's `audit`, installed or not

from audit.model.loader import DEFAULT_MODEL, ModelComponents  # noqa: E402

TOKENIZER_DIR = Path(DEFAULT_MODEL) / "tokenizer"  # the CLIP ViT-L/14 vocabulary (49408 tokens)
SD14_SCHEDULER = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
                  "num_train_timesteps": 1000, "set_alpha_to_one": False, "steps_offset": 1, "clip_sample": False}
WORDS = ["red", "blue", "tiny", "old", "misty", "golden", "quiet", "vast"]
THINGS = ["cat", "house", "river", "car", "tree", "robot", "boat", "city", "castle", "forest"]


def random_modules(arch: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """UNet and CLIP text encoder with random weights: 'sd14' (SD 1.4 / ViT-L/14 shapes) or 'tiny' (test-sized)."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    if arch == "sd14":
        unet = UNet2DConditionModel(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                                    block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
                                    attention_head_dim=8,
                                    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                                    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
        text = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                              num_attention_heads=12, max_position_embeddings=77)
    elif arch == "tiny":
        unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                    block_out_channels=(16, 32), cross_attention_dim=32, attention_head_dim=4,
                                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), norm_num_groups=8)
        text = CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                              num_attention_heads=4, max_position_embeddings=77)
    else:
        raise ValueError(f"unknown architecture {arch!r}")
    return unet, CLIPTextModel(text)


def sd14_random(device: torch.device, dtype: torch.dtype) -> ModelComponents:
    """The SD 1.4 UNet and CLIP ViT-L/14 text encoder architectures with random weights (no download)."""
    from diffusers import DDIMScheduler
    from transformers import AutoTokenizer

    unet, text = random_modules("sd14")
    for module in (unet, text):
        module.to(device=device, dtype=dtype).eval().requires_grad_(False)
    return ModelComponents(source="random SD 1.4 architecture", unet=unet, text_encoder=text,
                           tokenizer=AutoTokenizer.from_pretrained(TOKENIZER_DIR), scheduler_config=SD14_SCHEDULER,
                           alphas_cumprod=DDIMScheduler(**SD14_SCHEDULER).alphas_cumprod.double(),
                           prediction_type="epsilon", device=device, dtype=dtype)


def bench_captions(n: int) -> list[str]:
    """n distinct short captions."""
    return [f"bench caption {i} with a few words about a {['red', 'blue', 'green'][i % 3]} thing" for i in range(n)]


def rate(fn, captions: list[str]) -> float:
    """Captions per second of fn(captions), waiting for the GPU to finish."""
    start = time.perf_counter()
    fn(captions)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return len(captions) / (time.perf_counter() - start)


def make_laion(folder: Path, rows: int, files: int) -> Path:
    """`rows` LAION-schema rows (SAMPLE_ID, URL, TEXT, WIDTH, HEIGHT, similarity) in `files` Parquet files."""
    if folder.exists():
        return folder
    folder.mkdir(parents=True)
    per_file = -(-rows // files)
    for f, start in enumerate(range(0, rows, per_file)):
        ids = range(start, min(rows, start + per_file))
        pq.write_table(pa.table({
            "SAMPLE_ID": pa.array(ids, pa.int64()), "URL": [f"https://example.com/img/{i}.jpg" for i in ids],
            "TEXT": [f"a {WORDS[i % 8]} {THINGS[i // 8 % 10]} in the style of painter {i // 80}, photo {i}" for i in ids],
            "WIDTH": pa.array([512] * len(ids), pa.int32()), "HEIGHT": pa.array([512] * len(ids), pa.int32()),
            "similarity": pa.array([0.3] * len(ids), pa.float64())}), folder / f"part-{f:05d}.parquet")
    return folder


def run_measured(cmd: list[str], kill_now: Callable[[], bool] | None = None) -> dict:
    """Run `cmd`, sampling the peak RSS of it and of every process under it (Ray's raylet and workers) every
    0.2 s; SIGKILL it as soon as `kill_now()` says so. Exit code, wall seconds and peaks in MB."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peaks: dict[int, int] = {}

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                for p in [root, *root.children(recursive=True)]:
                    peaks[p.pid] = max(p.memory_info().rss, peaks.get(p.pid, 0))
            except psutil.Error:
                pass
            if kill_now is not None and kill_now():
                proc.send_signal(signal.SIGKILL)
                return
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    code = proc.wait()
    sampler.join()
    others = [rss for pid, rss in peaks.items() if pid != proc.pid]
    return {"exit": code, "wall_s": round(time.monotonic() - start, 1), "driver_peak_mb": peaks.get(proc.pid, 0) >> 20,
            "max_other_process_peak_mb": max(others, default=0) >> 20, "processes": len(peaks)}
