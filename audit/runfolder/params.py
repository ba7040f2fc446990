"""The parameters that determine a scan's scores, stored in the output folder and checked on resume."""
from __future__ import annotations

import hashlib
import json
import logging

import pyarrow.fs as pafs

from audit.runfolder import storage
from audit.runfolder.folder import RunFolder

log = logging.getLogger(__name__)
SCORE_KEYS = ("model", "model_fingerprint", "prediction_type", "dtype", "seed", "generations", "t_hi", "t_lo",
              "authors_sd2", "w_norm", "w_cos")
OPTIONAL_KEYS = ("model_config", "adapters")  # a single-file checkpoint's config folder; LoRA adapters


def score_params(metadata: dict, caption_column: str | None, caption_field: str | None) -> dict:
    """What must not change between a run and its resumption: score settings and which text is scored."""
    extra = {k: metadata[k] for k in OPTIONAL_KEYS if k in metadata}  # absent for a plain pipeline folder
    return {k: metadata[k] for k in SCORE_KEYS} | extra | {"caption_column": caption_column, "caption_field": caption_field}


STATE = ("done", "failed", "keyed", "scores", "staging", "key_scores")  # what earlier runs of the folder hold
KEY_COUNTS = "key_counts.json"


def scored_nothing(folder: RunFolder) -> bool:
    """Whether no run of the folder ever scored a row: no done marker counts a scored row, and neither scored
    keys (dedup) nor scored parts of an unfinished shard are kept."""
    if any(storage.read_json(folder.fs, p).get("scored") for p in storage.list_files(folder.fs, folder.path("done"),
                                                                                       ".json")):
        return False
    if storage.list_files(folder.fs, folder.path("key_scores"), ".parquet"):
        return False
    staging = folder.fs.get_file_info(pafs.FileSelector(folder.path("staging"), recursive=True, allow_not_found=True))
    return not any(i.path.endswith(".parquet") for i in staging)


def _forget_state(folder: RunFolder) -> None:
    """Remove every earlier run's shard state (its rows were read with other parameters)."""
    for name in STATE:
        storage.remove_tree(folder.fs, folder.path(name))
    storage.remove_file(folder.fs, folder.path(KEY_COUNTS))


def check_or_store(folder: RunFolder, params: dict) -> None:
    """Store `params` as run.json, or, if the folder has one, refuse to continue with different ones, unless
    no run of the folder scored anything (a mistake such as a wrong caption column): then start afresh."""
    path = folder.path("run.json")
    if not storage.exists(folder.fs, path):
        storage.write_json(folder.fs, path, params)
        return
    stored = storage.read_json(folder.fs, path)
    changed = [f"{k} {stored.get(k)!r} -> {params.get(k)!r}" for k in sorted(set(stored) | set(params))
               if stored.get(k) != params.get(k)]
    if changed and scored_nothing(folder):
        log.info("%s: its earlier runs scored nothing, so it takes the new parameters (%s)", folder.address,
                 "; ".join(changed))
        _forget_state(folder)
        storage.write_json(folder.fs, path, params)
        return
    if changed:
        raise ValueError(f"{folder.root} holds a scan with other score parameters ({'; '.join(changed)}); "
                         f"use a new output folder or the same options")


def scan_identity(params: dict, markers: list[tuple[str, dict]]) -> str:
    """What a scan's report was made of: its parameters and each finished input's identity and row count.

    Results derived from a report (mitigations, embeddings) record it; a different one means they are stale.
    """
    inputs = sorted((m["source"], m.get("input"), m["rows"]) for _, m in markers)
    text = json.dumps({"params": params, "inputs": inputs}, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
