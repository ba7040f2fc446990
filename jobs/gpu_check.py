"""The GPU check: engine-only captions/s (eager and compiled) against `scan` through Ray on one GPU actor, over
the same random-weight model saved as a pipeline folder; prints one JSON line.

    python jobs/gpu_check.py                                    # SD 1.4 architecture on CUDA, bf16, 20,480 captions
    python jobs/gpu_check.py --device cpu --arch tiny --engine-captions 64 --scan-captions 400 --files 4

Order: build and save the model (on the CPU), run `python -m audit scan` (its own local Ray, one actor, the
batch size its memory probe chose unless --batch-size) while sampling GPU utilization and memory, then load
the saved folder in this process for the engine figures at the scan's batch size and dtype.
`scan_steady_captions_per_s` leaves out actor start-up: rows of the shards after the first over the time
between the first and the last shard's done marker.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from benchkit import TOKENIZER_DIR, bench_captions, make_laion, random_modules, rate  # jobs/ is the script's folder

from audit.canary.train import save_pipeline  # noqa: E402  (benchkit put this checkout on sys.path)
from audit.model.loader import DTYPES, load_model, resolve_dtype  # noqa: E402
from audit.scoring.engine import ScoreConfig, Scorer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


class GpuSampler:
    """Samples `nvidia-smi` (utilization %, memory MiB) every `period` seconds in a thread; no-op without it."""

    def __init__(self, period: float = 0.5):
        self.period, self.samples, self._stop = period, [], threading.Event()
        self._smi = shutil.which("nvidia-smi")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = [self._smi, "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits", "--id=0"]
        while not self._stop.wait(self.period):
            out = subprocess.run(query, capture_output=True, text=True).stdout.strip()
            if out:
                util, mem = (float(x) for x in out.split(","))
                self.samples.append((time.monotonic(), util, mem))

    def __enter__(self) -> GpuSampler:
        if self._smi:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._smi:
            self._thread.join()

    def summary(self) -> dict:
        """Mean utilization over the whole run and over its busy window (first to last non-zero sample), peak MiB."""
        if not self.samples:
            return {"gpu_util_mean": None, "gpu_util_busy_mean": None, "gpu_mem_peak_mib": None, "gpu_samples": 0}
        utils = [u for _, u, _ in self.samples]
        busy = [i for i, u in enumerate(utils) if u > 0] or [0]
        window = utils[busy[0] : busy[-1] + 1]
        return {"gpu_util_mean": round(sum(utils) / len(utils), 1),
                "gpu_util_busy_mean": round(sum(window) / len(window), 1),
                "gpu_mem_peak_mib": max(m for _, _, m in self.samples), "gpu_samples": len(utils)}


def save_model(arch: str, dtype: str, folder: Path) -> Path:
    """A random-weight pipeline folder of `arch`, weights stored in `dtype` (a DTYPES name)."""
    torch.manual_seed(0)
    unet, text = random_modules(arch)
    save_pipeline(folder, unet.to(DTYPES[dtype]), text.to(DTYPES[dtype]), TOKENIZER_DIR, {})
    return folder


def steady_rate(out: Path) -> float | None:
    """Rows of the shards finished after the first, over the time from the first to the last done marker."""
    markers = sorted((p.stat().st_mtime, json.loads(p.read_text())["rows"]) for p in (out / "done").glob("*"))
    if len(markers) < 2 or markers[-1][0] <= markers[0][0]:
        return None
    return round(sum(rows for _, rows in markers[1:]) / (markers[-1][0] - markers[0][0]), 2)


def run_scan(data: Path, model: Path, out: Path, args: argparse.Namespace) -> dict:
    """`python -m audit scan` on one actor; its rows, batch size, dtype, captions/s and GPU samples."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                        "AUDIT_TORCH_THREADS": os.environ.get("AUDIT_TORCH_THREADS", "1")}
    cmd = [sys.executable, "-m", "audit", "scan", str(data), "-o", str(out), "--model", str(model), "--device",
           args.device, "--dtype", args.dtype, "--actors", "1", "--top-k", "10",
           "--no-dedup", "--small-scan-rows", "0"]  # the check times Ray Data's scoring pipeline on distinct
    # captions (not a small scan's host actor); polars (dedup's joins) is too big to travel to the device machine
    cmd += ["--batch-size", str(args.batch_size)] if args.batch_size else []
    start = time.monotonic()
    with GpuSampler() as gpu:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.scan_timeout)
    if done.returncode != 0:
        raise SystemExit(f"scan failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    params = summary["score_parameters"]
    return {"device": params["device"], "dtype": params["dtype"], "batch_size": params["batch_size"],
            "scan_rows": summary["rows_read"], "scan_wall_s": round(time.monotonic() - start, 1),
            "scan_captions_per_s": summary["timing"]["model_captions_per_second"],
            "scan_steady_captions_per_s": steady_rate(out), **gpu.summary()}


def engine(model_dir: Path, args: argparse.Namespace, dtype: str, batch: int) -> dict:
    """Engine-only captions/s on the saved model at the scan's dtype and batch size: eager, then compiled."""
    model = load_model(str(model_dir), device=args.device, dtype=dtype)
    captions = bench_captions(args.engine_captions)
    scorer = Scorer(model, ScoreConfig(batch_size=batch))
    scorer.score(captions[:batch])  # warm-up: cuDNN autotuning, allocator
    result = {"engine_captions_per_s": round(rate(scorer.score, captions), 2)}
    if args.compile:
        compiled = Scorer(model, ScoreConfig(batch_size=batch, compile=True))
        warm = time.perf_counter()
        compiled.score(captions[:batch])
        result["compile_warmup_s"] = round(time.perf_counter() - warm, 1)
        result["engine_compiled_captions_per_s"] = round(rate(compiled.score, captions), 2)
    if model.device.type == "cuda":
        result["engine_peak_mem_mib"] = torch.cuda.max_memory_allocated(model.device) >> 20
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--arch", choices=["sd14", "tiny"], default="sd14")
    p.add_argument("--dtype", default="auto", help="auto: bfloat16 on CUDA, float32 on CPU")
    p.add_argument("--batch-size", type=int, default=None, help="default: the engine's choice from free memory")
    p.add_argument("--engine-captions", type=int, default=2048)
    p.add_argument("--scan-captions", type=int, default=20_480)
    p.add_argument("--files", type=int, default=20, help="Parquet shards of the scan's input")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="skip the compiled engine run")
    p.add_argument("--scan-timeout", type=float, default=330, help="seconds before the scan is given up")
    p.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    args = p.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_check-"))
    try:
        start = time.monotonic()
        model_dir = save_model(args.arch, resolve_dtype(args.dtype, torch.device(args.device)), work / "model")
        data = make_laion(work / "laion", args.scan_captions, args.files)
        result = {"arch": args.arch, "setup_s": round(time.monotonic() - start, 1)}
        result |= run_scan(data, model_dir, work / "run", args)  # first: this process holds no GPU memory yet
        result |= engine(model_dir, args, result["dtype"], result["batch_size"])
        steady = result["scan_steady_captions_per_s"] or result["scan_captions_per_s"]
        result["scan_vs_engine"] = round(steady / result["engine_captions_per_s"], 3)
        result["total_s"] = round(time.monotonic() - start, 1)
        print(json.dumps(result))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
