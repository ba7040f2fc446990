"""Benchmark of `scan`: captions/s with 1 and 2 actors, driver peak RSS at two input sizes, and the
overhead of the Ray path over the in-process `score` command on the same captions.

`rows_per_s_scoring` counts pipeline start-up (actor model loads); `marginal_captions_per_s_1_actor`, from
the difference between the two sizes, is the steady-state rate.

    python jobs/bench_scan.py --model PATH                                  # 50k / 200k rows, 10k overhead
    python jobs/bench_scan.py --model PATH --sizes 5000 20000 --overhead-rows 5000 --files 20

Each run is a fresh `python -m audit scan` (its own local Ray, or --address); results go to stdout as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from benchkit import make_laion  # jobs/ is the script's folder


def measured(cmd: list[str]) -> tuple[float, int]:
    """Run `cmd`; return its wall seconds and the peak RSS of that process alone (sampled every 50 ms)."""
    env = os.environ | {"AUDIT_TORCH_THREADS": os.environ.get("AUDIT_TORCH_THREADS", "1")}
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, watched = [0], psutil.Process(proc.pid)

    def sample() -> None:
        while proc.poll() is None:
            try:
                peak[0] = max(peak[0], watched.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    if proc.wait() not in (0, 3):
        raise SystemExit(f"failed: {' '.join(cmd)}")
    sampler.join()
    return time.monotonic() - start, peak[0]


def scan(inputs: Path, out: Path, actors: int, common: list[str]) -> dict:
    wall, rss = measured([sys.executable, "-m", "audit", "scan", str(inputs), "-o", str(out), "--actors", str(actors),
                          *common])
    timing = json.loads((out / "summary.json").read_text())["timing"]
    return {"actors": actors, "rows": timing["rows_this_run"], "wall_s": round(wall, 1),
            "scoring_s": timing["scoring_seconds"],
            "rows_per_s_scoring": round(timing["rows_this_run"] / timing["scoring_seconds"], 1),
            "end_to_end_captions_per_s": round(timing["rows_this_run"] / wall, 1), "driver_peak_rss_mb": rss >> 20}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model for both commands (default: the bundled canary)")
    p.add_argument("--sizes", type=int, nargs=2, default=[50_000, 200_000], help="small and large row counts")
    p.add_argument("--files", type=int, default=20, help="Parquet files per dataset")
    p.add_argument("--overhead-rows", type=int, default=10_000, help="captions for the score-vs-scan comparison")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench_scan")
    args = p.parse_args()
    common = ["--batch-size", str(args.batch_size)] + (["--model", args.model] if args.model else [])
    small, large = (make_laion(args.work / f"laion-{n}", n, args.files) for n in args.sizes)
    runs = args.work / f"runs-{int(time.time())}"
    results = {"large_1_actor": scan(large, runs / "large-1", 1, common),
               "large_2_actors": scan(large, runs / "large-2", 2, common),
               "small_1_actor": scan(small, runs / "small-1", 1, common)}
    big, few = results["large_1_actor"], results["small_1_actor"]
    results["marginal_captions_per_s_1_actor"] = round((big["rows"] - few["rows"]) /
                                                       (big["scoring_s"] - few["scoring_s"]), 1)
    one_file = make_laion(args.work / f"single-{args.overhead_rows}", args.overhead_rows, 1) / "part-00000.parquet"
    score_wall, _ = measured([sys.executable, "-m", "audit", "score", "-i", str(one_file),
                              "-o", str(runs / "score.parquet"), *common])
    ray_path = scan(one_file, runs / "overhead", 1, common)
    results["overhead"] = {"rows": args.overhead_rows, "score_wall_s": round(score_wall, 1),
                           "scan_wall_s": ray_path["wall_s"], "scan_scoring_s": ray_path["scoring_s"],
                           "ray_overhead_s": round(ray_path["wall_s"] - score_wall, 1)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
