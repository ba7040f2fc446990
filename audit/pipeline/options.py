"""The options of one scan, as the CLI, the job script and the Python API give them."""
from __future__ import annotations

from dataclasses import dataclass, field

from audit.readers.inputs import Shard
from audit.scoring.stage import ScoreStage


@dataclass
class ScanOptions:
    """Everything a scan needs; see `python -m audit scan --help` for the meaning of each."""

    inputs: list[str]
    output: str
    stage: ScoreStage = field(default_factory=ScoreStage)
    caption_column: str | None = None
    caption_field: str | None = None
    actors: int | None = None  # a fixed pool of this many actors
    max_actors: int | None = None  # an elastic pool's most actors (default: the cluster's GPUs when the scan starts)
    actor_cpus: float | None = None
    address: str | None = None
    threshold: float | None = None
    top_k: int | None = None
    top_fraction: float | None = None
    rows_per_file: int = 500_000
    unit_rows: int = 100_000
    gpu_wait: float = 0.0  # seconds to wait for GPU nodes when the cluster has too few (autoscaling clusters)
    dedup: bool = True  # score each distinct caption key once across all inputs (False: every row)
    small_scan_rows: int = 100_000  # key, count and join (no dedup: read and write) in the driver up to these rows
    expanded: list[Shard] | None = None  # `inputs` expanded and checked already (the CLI does it before Ray starts)
    units: list[Shard] | None = None  # `expanded` planned into units already (the CLI does, to know if Ray is needed)
    stall_timeout: float = 300.0  # stop when no unit or batch finished for this long (0: never)


@dataclass
class Scored:
    """What a scan's scoring step did: shard id -> reason for shards that failed, the actors' seconds, the shards
    read and scored before this run (dedup: keyed before; their dup_counts may be filled again), the sources
    scored again because they changed, the captions the model scored, and dedup's counts (None without)."""

    failures: dict[str, str]
    model_seconds: float
    resumed: set[str]
    changed: list[str]
    captions: int = 0
    dedup: dict | None = None
