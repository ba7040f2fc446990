"""Run mitigation on a scan's flagged rows with its own Ray actor pool (not the scoring pool), or in this process.

Reads `flagged.parquet` and `summary.json` of a run folder and scores with the scan's exact parameters. Each
distinct flagged caption is mitigated once (a caption flagged 4,000 times is adapted once; its other rows copy
the result). Batches of distinct captions in rank order go to the actors, which write each batch's results as a
file (`batches.BatchStore`) and `embeddings/<row_id>.safetensors`; a rerun redoes only the unfinished batches.
The driver then streams the batch files into `mitigations.parquet` and adds counts to the summary.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import ray.data

from audit.cluster.actors import StageActor
from audit.cluster.connect import connected
from audit.cluster.here import one_actor_here
from audit.cluster.pool import actor_options
from audit.mitigation.assemble import assemble
from audit.mitigation.batches import INPUT_COLUMNS, BatchStore, plan, scan_hash
from audit.mitigation.results import SECONDS, to_table
from audit.mitigation.stage import MitigationStage
from audit.mitigation.target import Target, choose_target
from audit.model.lora_spec import LoraSpec
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder
from audit.scoring.config import ScoreConfig
from audit.scoring.stage import ScoreStage

log = logging.getLogger(__name__)

@dataclass
class MitigationOptions:
    """Run folder, device, pool size and budgets; `threshold` overrides the scan's flagging threshold and
    `target` the embedding adaptation's goal (default: `choose_target` on the scan's profile)."""

    run_dir: str
    device: str = "auto"
    actors: int | None = None
    actor_cpus: float | None = None
    address: str | None = None
    threshold: float | None = None
    target: float | None = None
    max_edits: int = 3
    max_steps: int = 50
    lr: float = 0.05
    attribution: str = "leave-one-out"
    batch_size: int = 8  # distinct flagged captions per actor call: one adaptation batch, one batch file
    allow_pickle: bool = False


class MitigatorActor(StageActor):
    """Loads the model once per actor; each call mitigates one batch's distinct captions, gives their copies the
    same results, and writes the batch file. `rows`: the planned rows of every batch to do."""

    def __init__(self, stage: MitigationStage, torch_threads: int, store: BatchStore, rows: pd.DataFrame):
        super().__init__(stage, torch_threads)
        self.store = store
        self.batches = {int(b): group for b, group in rows.groupby("batch")}

    def __call__(self, call: dict) -> dict:
        (batch,) = call["batch"].tolist()
        rows = self.batches[int(batch)].sort_values("rank", kind="stable")
        first = rows["same_as"].isna().to_numpy()
        results, dups = self.stage.process(rows.loc[first, INPUT_COLUMNS]), rows.loc[~first]
        copies = results.set_index("row_id", drop=False).loc[dups["same_as"].astype("int64")]
        copies = copies.assign(rank=dups["rank"].to_numpy(), row_id=dups["row_id"].to_numpy(),
                               same_as=dups["same_as"].to_numpy(), **{c: 0.0 for c in SECONDS})
        table = to_table(pd.concat([results, copies], ignore_index=True))
        storage.write_table(self.store.folder.fs, self.store.path(batch), table)
        return {"batch": [batch], "rows": [table.num_rows]}


def stage_for_run(summary: dict, options: MitigationOptions, folder: RunFolder) -> tuple[MitigationStage, Target]:
    """A mitigation stage that scores exactly as the scan did (model, noise, weights), and its target."""
    p = summary["score_parameters"]
    threshold = options.threshold if options.threshold is not None else summary["flagging"]["threshold"]
    if threshold is None:
        threshold = p.get("threshold")
    if threshold is None:
        raise ValueError("the scan flagged by rank, not by a threshold: pass --threshold for mitigation")
    target = choose_target(float(threshold), options.target, (p.get("profile") or {}).get("clean_median"))
    config = ScoreConfig(generations=p["generations"], seed=p["seed"], authors_sd2=p["authors_sd2"])
    loras = tuple(LoraSpec(a["path"], a["scale"]) for a in p.get("adapters", []))
    scoring = ScoreStage(model=p["model"], device=options.device, dtype=p["dtype"], config=config,
                         allow_pickle=options.allow_pickle, w_norm=p["w_norm"], w_cos=p["w_cos"], loras=loras,
                         model_config=p.get("model_config"))
    stage = MitigationStage(scoring, float(threshold), folder.address, target=target.value,
                            max_edits=options.max_edits, max_steps=options.max_steps, lr=options.lr,
                            attribution=options.attribution)
    return stage, target


def run_batches(options: MitigationOptions, stage: MitigationStage, store: BatchStore, rows: pd.DataFrame) -> None:
    """Mitigate `rows` (the planned rows of the unfinished batches) on an actor pool, or in this process when the
    pool would be one actor on this machine (`one_actor_here`); each batch's results go to its batch file."""
    batches = [int(b) for b in sorted(rows["batch"].unique())]
    if one_actor_here(options.address, options.device, options.actors):
        import torch

        actor = MitigatorActor(stage, torch.get_num_threads(), store, rows)
        for batch in batches:
            actor({"batch": np.array([batch])})
        log.info("mitigated %d batches in this process", len(batches))
        return
    with connected(options.address):
        pool = actor_options(options.device, options.actors, options.actor_cpus)
        # a batch number per call, made here: no shuffle task waits for a CPU the actors hold (a 1-CPU GPU node)
        ds = ray.data.from_items([{"batch": b} for b in batches]).map_batches(
            MitigatorActor, batch_size=1, batch_format="numpy", compute=pool.strategy(), **pool.resources,
            fn_constructor_kwargs={"stage": stage, "torch_threads": pool.torch_threads, "store": store, "rows": rows})
        written = sum(len(b["batch"]) for b in ds.iter_batches(batch_format="numpy"))
        log.info("mitigated %d batches", written)


def run_mitigation(options: MitigationOptions) -> dict:
    """Mitigate every distinct flagged caption of a finished scan once, resuming its finished batches; every flagged
    row gets a result; the summary's counts."""
    if options.batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {options.batch_size}")
    start = time.monotonic()
    folder = RunFolder.at(options.run_dir)
    summary = folder.summary()
    stage, target = stage_for_run(summary, options, folder)
    settings = {k: v for k, v in asdict(options).items() if k in ("max_edits", "max_steps", "lr", "attribution",
                                                                    "batch_size")} | {"batches_of": "distinct captions"}
    store = BatchStore(folder, scan_hash(folder), settings | {"threshold": stage.threshold, "target": target.value})
    if stale := store.discard_stale():
        log.info("discarded mitigation results of another scan or other settings: %s", ", ".join(stale))
    done, flagged, rows = store.done(), folder.flagged_rows(), plan(folder, options.batch_size)
    if not (todo := rows[~rows["batch"].isin(done)]).empty:
        run_batches(options, stage, store, todo)
    counts = assemble(folder, store.files())
    if counts["rows"] != flagged:
        raise RuntimeError(f"{counts['rows']} mitigation results for {flagged} flagged rows")
    summary["mitigation"] = {
        "threshold": stage.threshold, "target": target.value, "target_source": target.source,
        "attribution": stage.attribution, "batch_size": options.batch_size, "batches_reused": len(done),
        "flagged": flagged, "distinct_captions": int(rows["same_as"].isna().sum()), "ok": counts["ok"],
        "failed": flagged - counts["ok"],
        "rewrite_under_threshold": counts["rewrite_converged"],
        "embedding_under_threshold": counts["embedding_converged"], "seconds": round(time.monotonic() - start, 3),
    }
    storage.write_json(folder.fs, folder.path("summary.json"), summary)
    log.info("mitigated %d flagged rows: %s", flagged, summary["mitigation"])
    return summary["mitigation"]
