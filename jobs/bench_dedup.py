"""Benchmark of dataset-wide dedup on synthetic LAION-schema data with a realistic duplicate distribution.

    python jobs/bench_dedup.py ratio --rows 200000 --zipf 0.8   # input rows/s, dedup vs --no-dedup, canary
    python jobs/bench_dedup.py big --rows 20000000 --distinct 200000   # end to end: wall time, peak memory
    python jobs/bench_dedup.py big --stand-in      # either mode without the model's cost (bench_pipeline's CRC)

Duplicates follow a Zipf-like law: every one of the `--distinct` captions appears once, and the remaining rows
are spread over them with weights 1/k^s, so the most frequent captions repeat thousands of times (with the
defaults about half of all rows duplicate another row). Both modes score with the bundled canary; each scan
runs in its own process, whose peak resident memory and that of every process under it (Ray) are sampled.
Throughput is input rows per second: of the whole scoring step (keying and joins included), of the wall time,
and of the actors' time in the model. Results go to stdout as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from benchkit import THINGS, WORDS, run_measured

GROUP = 100_000


def caption_counts(rows: int, distinct: int, s: float) -> np.ndarray:
    """How often each of `distinct` captions appears among `rows` rows: once each, the rest by Zipf weights."""
    weights = 1.0 / np.arange(1, distinct + 1) ** s
    extra = np.floor(weights / weights.sum() * (rows - distinct)).astype(np.int64)
    extra[: rows - distinct - extra.sum()] += 1  # rounding leftovers to the most frequent
    return 1 + extra


def caption_text(k: int) -> str:
    return f"a {WORDS[k % 8]} {THINGS[k // 8 % 10]} in the style of painter {k // 80}, photo {k}"


def make_files(folder: Path, rows: int, distinct: int, s: float, files: int, seed: int = 0) -> Path:
    """LAION-schema Parquet files (SAMPLE_ID, URL, TEXT, WIDTH, HEIGHT, similarity) in row groups of 100k rows,
    duplicates shuffled across all files."""
    if (folder / "_done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.repeat(np.arange(distinct), caption_counts(rows, distinct, s))
    np.random.default_rng(seed).shuffle(ids)
    texts = pa.array([caption_text(k) for k in range(distinct)])
    per_file = -(-rows // files)
    for f, start in enumerate(range(0, rows, per_file)):
        stop = min(rows, start + per_file)
        with pq.ParquetWriter(folder / f"part-{f:05d}.parquet", pa.schema([
                ("SAMPLE_ID", pa.int64()), ("URL", pa.string()), ("TEXT", pa.string()), ("WIDTH", pa.int32()),
                ("HEIGHT", pa.int32()), ("similarity", pa.float64())])) as writer:
            for a in range(start, stop, GROUP):
                b = min(stop, a + GROUP)
                writer.write_table(pa.table({
                    "SAMPLE_ID": pa.array(np.arange(a, b)), "URL": [f"https://example.com/{i}.jpg" for i in range(a, b)],
                    "TEXT": texts.take(pa.array(ids[a:b])), "WIDTH": pa.array(np.full(b - a, 512, np.int32)),
                    "HEIGHT": pa.array(np.full(b - a, 384, np.int32)), "similarity": pa.array(np.full(b - a, 0.3))}))
    (folder / "_done").write_text("")
    return folder


def scan(data: Path, out: Path, *extra: str, stand_in: bool = False) -> dict:
    """`python -m audit scan` on the canary in its own process (or, `stand_in`, bench_pipeline's scan with the
    model replaced by a CRC of the caption): its summary, wall time and peak memory."""
    cmd = [sys.executable, "-m", "audit", "scan", str(data), "-o", str(out), "--top-k", "100", *extra]
    if stand_in:
        cmd = [sys.executable, str(Path(__file__).with_name("bench_pipeline.py")), "--child", str(data), str(out),
               *(["--no-dedup"] if "--no-dedup" in extra else [])]
    result = run_measured(cmd)
    if result["exit"] != 0:
        raise SystemExit(f"scan failed: {result}")
    summary = json.loads((out / "summary.json").read_text())
    t = summary["timing"]
    return result | {"rows": summary["rows_read"], "scoring_seconds": t["scoring_seconds"],
                     "model_seconds": t["model_seconds"],
                     "rows_per_model_s": round(summary["rows_read"] / t["model_seconds"], 1) if t["model_seconds"] else None,
                     "rows_per_s": round(summary["rows_read"] / t["scoring_seconds"], 1),
                     "rows_per_s_wall": round(summary["rows_read"] / result["wall_s"], 1), "dedup": summary["dedup"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["ratio", "big"])
    p.add_argument("--rows", type=int, default=None, help="rows (default 20,000 for ratio, 20M for big)")
    p.add_argument("--distinct", type=int, default=None, help="distinct captions (default rows/2; 200k for big)")
    p.add_argument("--zipf", type=float, default=1.1, help="exponent s of the duplicate weights 1/k^s")
    p.add_argument("--files", type=int, default=4)
    p.add_argument("--stand-in", action="store_true", help="replace the model by a CRC of the caption "
                   "(bench_pipeline.py's), to time the pipeline itself")
    p.add_argument("--repeat", type=int, default=1, help="ratio: alternate dedup and --no-dedup scans this often "
                   "(a noisy machine: compare the pairs)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench_dedup")
    args = p.parse_args()
    rows = args.rows or (20_000 if args.mode == "ratio" else 20_000_000)
    distinct = args.distinct or (rows // 2 if args.mode == "ratio" else 200_000)
    data = make_files(args.work / f"data-{rows}-{distinct}-{args.zipf}", rows, distinct, args.zipf, args.files)
    counts = caption_counts(rows, distinct, args.zipf)
    result = {"rows": rows, "distinct": distinct, "zipf": args.zipf, "duplicate_rows": rows - distinct,
              "top_counts": counts[:3].tolist()}
    if args.mode == "big":
        result["dedup"] = scan(data, args.work / f"dedup-{int(time.time())}", stand_in=args.stand_in)
    else:
        result["pairs"] = []
        for _ in range(args.repeat):
            stamp = int(time.time())
            pair = {"dedup": scan(data, args.work / f"dedup-{stamp}", stand_in=args.stand_in),
                    "no_dedup": scan(data, args.work / f"plain-{stamp}", "--no-dedup", stand_in=args.stand_in)}
            pair["speedup_rows_per_s"] = round(pair["dedup"]["rows_per_s"] / pair["no_dedup"]["rows_per_s"], 2)
            pair["speedup_rows_per_model_s"] = round(pair["dedup"]["rows_per_model_s"]
                                                     / pair["no_dedup"]["rows_per_model_s"], 2)
            pair["speedup_wall"] = round(pair["no_dedup"]["wall_s"] / pair["dedup"]["wall_s"], 2)
            result["pairs"].append(pair)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
