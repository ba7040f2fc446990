"""Pipeline-only benchmark of `scan` on LAION-size Parquet files: the model is replaced by a cheap
deterministic function of the caption (defined here, nowhere in the library), so what is measured is the
pipeline's own cost: reading units, moving rows through Ray, writing parts, finalizing, ranking, reports.

    python jobs/bench_pipeline.py --rows 2000000 20000000        # rows/s and peak memory per process
    python jobs/bench_pipeline.py --rows 2000000 --kill-at 0.5     # units re-done after a SIGKILL at 50%

Peak resident memory is sampled (psutil, every 0.2 s) for the driver and every process under it (raylet,
Ray workers: read tasks, actors, writers). Results go to stdout as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# `python jobs/X.py` puts jobs/, not the checkout, on sys.path: import this checkout's `audit` even when not installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchkit import run_measured  # noqa: E402

from audit.readers.status import OK, combine_status  # noqa: E402
from audit.scoring.profiles import Profile  # noqa: E402
from audit.scoring.stage import ScoreStage  # noqa: E402

GROUP = 100_000
WORDS = ["red", "blue", "tiny", "old", "misty", "golden", "quiet", "vast"]


class CheapStage(ScoreStage):
    """A stand-in for the model: numbers from a CRC of the caption, so the pipeline's cost is all that remains."""

    def setup(self) -> None:
        self.weights = Profile("cheap", 1.0, 1.0)

    def process(self, frame: pd.DataFrame) -> pd.DataFrame:
        read = frame["read_status"] if "read_status" in frame else [None] * len(frame)
        status = [combine_status(r, c) for r, c in zip(read, frame["caption"])]
        crc = [zlib.crc32(c.encode()) if s == OK else None for c, s in zip(frame["caption"], status)]
        out = frame.drop(columns=["read_status"], errors="ignore").copy()
        out["norm"] = [c % 1000 / 1000 if c is not None else float("nan") for c in crc]
        out["cosine"] = [c % 977 / 977 if c is not None else float("nan") for c in crc]
        out["score"] = out["norm"] + out["cosine"]
        out["n_tokens"] = pd.array([len(c.split()) if s == OK else None for c, s in zip(frame["caption"], status)],
                                   dtype="Int64")
        out["truncated"] = pd.array([False if s == OK else None for s in status], dtype="boolean")
        out["status"] = status
        return out

    def metadata(self) -> dict:
        return {"tool": "audit", "version": "bench", "model": "cheap crc32", "model_fingerprint": "none",
                "prediction_type": "epsilon", "dtype": "float32", "device": "cpu", "batch_size": 32, "seed": 0,
                "generations": 1,
                "t_hi": 0, "t_lo": 0, "authors_sd2": False, "w_norm": 1.0, "w_cos": 1.0, "threshold": 1.9,
                "profile": {"name": "cheap", "w_norm": 1.0, "w_cos": 1.0, "source": "bench"}}


def make_file(path: Path, rows: int) -> Path:
    """A LAION-schema Parquet file (SAMPLE_ID, URL, TEXT, WIDTH, HEIGHT, similarity) in row groups of 100k."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("SAMPLE_ID", pa.int64()), ("URL", pa.string()), ("TEXT", pa.string()),
                        ("WIDTH", pa.int32()), ("HEIGHT", pa.int32()), ("similarity", pa.float64())])
    with pq.ParquetWriter(str(path) + ".tmp", schema) as writer:
        for start in range(0, rows, GROUP):
            ids = range(start, min(rows, start + GROUP))
            writer.write_table(pa.table({
                "SAMPLE_ID": pa.array(ids, pa.int64()), "URL": [f"https://example.com/img/{i}.jpg" for i in ids],
                "TEXT": [f"a {WORDS[i % 8]} photo of item {i % 50_000} by painter {i // 977}" for i in ids],
                "WIDTH": pa.array([512] * len(ids), pa.int32()), "HEIGHT": pa.array([384] * len(ids), pa.int32()),
                "similarity": pa.array([0.31] * len(ids), pa.float64())}, schema=schema))
    os.replace(str(path) + ".tmp", path)
    return path


def child(inputs: str, output: str, dedup: bool = True) -> None:
    """The scan itself, in its own process (so its memory and that of its Ray are sampled alone)."""
    from audit import api

    api.scan([inputs], output, CheapStage(device="cpu"), dedup=dedup)


def run_scan(inputs: Path, out: Path, kill_at: float | None = None, units: int = 0) -> dict:
    """Run `child` and sample the peak RSS of it and of every process under it; SIGKILL at a done fraction."""
    in_flight = [0]

    def kill_now() -> bool:
        if kill_at is None or len(list((out / "done").glob("*.json"))) < kill_at * units:
            return False
        in_flight[0] = len(list((out / "staging").glob("*"))) if (out / "staging").exists() else 0
        return True

    result = run_measured([sys.executable, __file__, "--child", str(inputs), str(out)], kill_now)
    return result | {"units_in_flight_at_kill": in_flight[0] if kill_at is not None else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=[2_000_000, 20_000_000])
    p.add_argument("--kill-at", type=float, default=None, help="SIGKILL the driver at this fraction of units done")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench_pipeline")
    p.add_argument("--child", nargs=2, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    p.add_argument("--no-dedup", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child, dedup=not args.no_dedup)
        return
    results = {}
    for rows in args.rows:
        data = make_file(args.work / f"laion-{rows}.parquet", rows)
        out = args.work / f"run-{rows}-{int(time.time())}"
        units = -(-rows // GROUP)
        if args.kill_at is not None:
            first = run_scan(data, out, args.kill_at, units)
            before = len(list((out / "done").glob("*.json")))
            second = run_scan(data, out)
            summary = json.loads((out / "summary.json").read_text())
            results[rows] = {"units": units, "done_at_kill": before, "kill": first, "rerun": second,
                             "units_scored_on_rerun": units - summary["shards"]["resumed"]}
            continue
        result = run_scan(data, out)
        summary = json.loads((out / "summary.json").read_text())
        result |= {"rows": rows, "units": units, "rows_per_s_wall": round(rows / result["wall_s"]),
                   "rows_per_s_scoring": round(rows / summary["timing"]["scoring_seconds"], 1)}
        results[rows] = result
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
