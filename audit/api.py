"""The Python API for notebooks: load a model, score a list of captions, run a scan, open a run folder.

    from audit import api
    stage = api.load_model()                                # the bundled canary; or a pipeline folder / hub id
    stage = api.load_model(lora=["adapter.safetensors:0.8"])  # with LoRA adapters, as --lora takes them
    ranked = api.score_captions(["a photo of a cat", "..."], stage)   # DataFrame, rank 1 = most likely memorized
    summary = api.scan(["captions/*.parquet"], "runs/demo")  # the `scan` command, on a local Ray
    run = api.open_run("runs/demo"); run.flagged().head()   # report() / flagged() as DataFrames
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from audit.model.lora_spec import parse_lora
from audit.ranking.flagging import choose_flagging
from audit.ranking.in_memory import flag_frame, rank_frame
from audit.runfolder.folder import RunFolder
from audit.scoring.config import ScoreConfig
from audit.scoring.keys import KeyStage, with_keys
from audit.scoring.stage import ScoreStage


def load_model(model: str | None = None, device: str = "auto", dtype: str = "float32", profile: str | None = None,
               lora: Sequence[str] = (), **config) -> ScoreStage:
    """A scoring stage with its model loaded (`lora`: adapter files as `--lora` takes them, 'PATH[:SCALE]';
    `config`: ScoreConfig fields such as generations, seed, batch_size)."""
    stage = ScoreStage(model=model, device=device, dtype=dtype, profile=profile, config=ScoreConfig(**config),
                       loras=tuple(parse_lora(text) for text in lora))
    stage.setup()
    return stage


def score_captions(captions: Sequence[object], stage: ScoreStage | None = None) -> pd.DataFrame:
    """Score captions in this process; a frame ranked like `score`'s report (unscorable values keep a status),
    with each caption's key, how many of `captions` share it (`dup_count`) and `flagged` (by the profile's
    threshold, as `score` flags without options)."""
    stage = stage or load_model()
    frame = pd.DataFrame({"row_id": range(len(captions)), "caption": pd.Series(list(captions), dtype=object)})
    keys = KeyStage(stage.described_by)
    keys.setup()
    ranked = rank_frame(with_keys(stage.process(frame), keys))
    return flag_frame(ranked, choose_flagging(None, None, None, stage.weights.threshold, int(ranked["rank"].count())))


def scan(inputs: Sequence[str], output: str, stage: ScoreStage | None = None, **options) -> dict:
    """Run `scan` (on RAY_ADDRESS or a private local Ray; a small scan on this machine alone in this process) and
    return its summary; `options`: ScanOptions fields. Ray's own output goes to the run's logs/scan.log."""
    from audit.cluster.logs import ray_output_in_log
    from audit.lines import SafeLines
    from audit.pipeline.options import ScanOptions
    from audit.pipeline.run import run_scan
    from audit.runfolder.guard import claim, locked

    claim(RunFolder.at(output))  # before the log is written into the folder
    with locked(RunFolder.at(output), "scan"), ray_output_in_log(output, "scan.log", SafeLines()):  # as `scan` does
        return run_scan(ScanOptions(inputs=list(inputs), output=output, stage=stage or ScoreStage(), **options))


def open_run(address: str) -> RunFolder:
    """A finished run folder (local or s3:// gs://): `.summary()`, `.report()`, `.flagged()`, `.top_flagged(k)`."""
    run = RunFolder.at(address)
    run.summary()  # fails now, with a one-line reason, if this is not a finished scan folder
    return run
