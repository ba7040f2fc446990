"""Run folders for the report, top and check tests: one real scan per session, and small hand-made folders."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audit.cli.main import main

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=\"document.title='pwned'\">"
TOP_K = 12


def _write_inputs(folder: Path) -> list[Path]:
    """Two shards, 60 rows: every caption carries markup; a.parquet has a null and an empty caption and URLs,
    half of them javascript: ones."""
    texts = [f"{SCRIPT} a red cat {IMG} number {i}" for i in range(30)]
    texts[1:3] = [None, ""]
    urls = [f"https://example.test/{i}.jpg" if i % 2 == 0 else "javascript:document.title='pwned'" for i in range(30)]
    pq.write_table(pa.table({"TEXT": texts, "URL": urls}), folder / "a.parquet")
    (folder / "b.txt").write_text("".join(f"{IMG} a blue house {SCRIPT} take {i}\n" for i in range(30)))
    return [folder / "a.parquet", folder / "b.txt"]


def scanned_run(tmp_path_factory, model: Path) -> Path:
    """The output folder of `scan --top-k 12` over `_write_inputs` with `model`, scanned once per session."""
    root = tmp_path_factory.getbasetemp() / "report-run"
    out = root / "run"
    if not (out / "summary.json").exists():
        shutil.rmtree(root, ignore_errors=True)
        (root / "inputs").mkdir(parents=True)
        inputs = _write_inputs(root / "inputs")
        assert main(["scan", *map(str, inputs), "--output", str(out), "--model", str(model),
                     "--top-k", str(TOP_K)]) == 0
    return out


def copy_run(run: Path, to: Path) -> Path:
    """A copy of a run folder that a test may change."""
    shutil.copytree(run, to)
    return to


def write_run(folder: Path, scores: np.ndarray, flagged: np.ndarray, sources: int = 1, captions: bool = False,
              keys: list[str] | None = None, **summary) -> Path:
    """A hand-made run folder of len(scores) rows, ranked already (highest score first), with captions or without,
    or with the caption key of each row (then its caption, dup_count and row_index too): report/, flagged.parquet,
    summary.json (`summary` overrides its fields)."""
    n = len(scores)
    dedup = {"caption": [f"caption {k}" for k in keys], "caption_key": keys,
             "dup_count": [keys.count(k) for k in keys], "row_index": np.arange(n) // sources} if keys else {}
    table = pa.table({**({"caption": [f"caption {i}" for i in range(n)]} if captions else {}), **dedup,
                      "rank": np.arange(1, n + 1), "row_id": np.arange(n), "score": scores,
                      "norm": scores / 4, "cosine": scores / 8, "flagged": flagged,
                      "source": [f"s{i % sources}.parquet" for i in range(n)]})
    (folder / "report").mkdir(parents=True)
    pq.write_table(table, folder / "report" / "part-000000.parquet", row_group_size=50_000)
    pq.write_table(table.filter(pa.array(flagged)), folder / "flagged.parquet")
    content = {"complete": True, "rows_read": n, "rows_scored": n, "rows_not_scored": {}, "flagged": int(flagged.sum()),
               "flagging": {"threshold": None, "top_k": int(flagged.sum()), "chosen_by": "--top-k"},
               "shards": {"total": sources, "finished": sources, "resumed": 0, "failed": []},
               "timing": {"wall_seconds": 1.0, "scoring_seconds": 1.0, "rows_this_run": n, "captions_per_second": n},
               "score_parameters": {"model": "hand-made", "w_norm": 2.0, "w_cos": 4.0}} | summary
    (folder / "summary.json").write_text(json.dumps(content))
    return folder
