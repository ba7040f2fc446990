"""Run mitigation on a scan's flagged rows with its own Ray actor pool (not the scoring pool).

Reads `flagged.parquet` and `summary.json` of a run folder, scores with the scan's exact parameters,
writes `mitigations.parquet` and `embeddings/<row_id>.safetensors`, and adds counts to the summary.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
from ray.data import ActorPoolStrategy

from audit.cluster.actors import StageActor
from audit.cluster.connect import connected
from audit.cluster.pool import actor_options
from audit.mitigation.stage import MitigationStage
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder
from audit.scoring.engine import ScoreConfig
from audit.scoring.stage import ScoreStage

log = logging.getLogger(__name__)


@dataclass
class MitigationOptions:
    """Run folder, device, pool size and budgets; `threshold` overrides the scan's flagging threshold and
    `target` the embedding adaptation's goal (default: the run's median score, a typical caption's)."""

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


class MitigatorActor(StageActor):
    """Loads the model once per actor; each call mitigates a batch of flagged rows."""

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return self.stage.process(batch)


def stage_for_run(summary: dict, options: MitigationOptions, folder: RunFolder) -> MitigationStage:
    """A mitigation stage that scores exactly as the scan did (model, noise, weights) and targets its threshold."""
    p = summary["score_parameters"]
    threshold = options.threshold if options.threshold is not None else summary["flagging"]["threshold"]
    if threshold is None:
        threshold = p.get("threshold")
    if threshold is None:
        raise ValueError("the scan flagged by rank, not by a threshold: pass --threshold for mitigation")
    config = ScoreConfig(generations=p["generations"], seed=p["seed"], authors_sd2=p["authors_sd2"])
    scoring = ScoreStage(model=p["model"], device=options.device, dtype=p["dtype"], config=config,
                         w_norm=p["w_norm"], w_cos=p["w_cos"])
    target = options.target if options.target is not None else median_score(folder)
    return MitigationStage(scoring, float(threshold), storage.child(folder.address, "embeddings"), target=target,
                           max_edits=options.max_edits, max_steps=options.max_steps, lr=options.lr,
                           attribution=options.attribution)


def median_score(folder: RunFolder) -> float | None:
    """Median score of the run's scored rows, reading only the score column of the report."""
    scores = pq.read_table(folder.path("report"), filesystem=folder.fs, columns=["score"])["score"]
    return pc.approximate_median(scores).as_py()


def run_mitigation(options: MitigationOptions) -> pd.DataFrame:
    """Mitigate every flagged row of a finished scan; returns the results (also written to the run folder)."""
    folder = RunFolder.at(options.run_dir)
    if not storage.exists(folder.fs, folder.path("summary.json")):
        raise ValueError(f"{options.run_dir}: no summary.json: not a finished scan folder")
    summary = storage.read_json(folder.fs, folder.path("summary.json"))
    flagged = storage.read_table(folder.fs, folder.path("flagged.parquet"), ["row_id", "caption", "score"]).to_pandas()
    stage = stage_for_run(summary, options, folder)
    if flagged.empty:
        results = pd.DataFrame(columns=["row_id", "caption", "original_score", "status"])
    else:
        with connected(options.address):
            pool = actor_options(options.device, options.actors, options.actor_cpus)
            ds = ray.data.from_pandas(flagged).map_batches(
                MitigatorActor, fn_constructor_kwargs={"stage": stage, "torch_threads": pool.torch_threads},
                batch_format="pandas", batch_size=4, compute=ActorPoolStrategy(size=pool.size), **pool.resources)
            results = ds.to_pandas().sort_values("row_id", kind="stable").reset_index(drop=True)
    table = pa.Table.from_pandas(results, preserve_index=False).replace_schema_metadata(None)  # plain dtypes
    storage.write_table(folder.fs, folder.path("mitigations.parquet"), table)
    ok = results["status"].eq("ok")
    summary["mitigation"] = {
        "threshold": stage.threshold, "target": stage.target, "attribution": stage.attribution,
        "flagged": len(flagged), "ok": int(ok.sum()), "failed": int((~ok).sum()),
        "rewrite_under_threshold": int(results.get("rewrite_converged", pd.Series(dtype=bool)).fillna(False).sum()),
        "embedding_under_threshold": int(results.get("embedding_converged", pd.Series(dtype=bool)).fillna(False).sum()),
    }
    storage.write_json(folder.fs, folder.path("summary.json"), summary)
    log.info("mitigated %d flagged rows: %s", len(flagged), summary["mitigation"])
    return results
