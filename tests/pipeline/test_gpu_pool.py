"""The GPU resource path on a CPU machine: a local Ray that advertises two logical GPUs (and only 2 CPUs, which
two 1-CPU GPU actors once took whole, hanging the scan) hosts two one-GPU scoring actors, which find no CUDA and
score on the CPU; a cluster without GPUs refuses CUDA in one line."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import ray
from builders import write_laion

from audit.cli.main import main
from audit.cluster.pool import PoolOptions, actor_options
from audit.pipeline.dedup import distinct
from audit.pipeline.dedup.distinct import KeyScorerActor
from audit.pipeline.placement import PlacementError, describe_on_pool, gpu_shortfall
from audit.reports.parquet import read_metadata
from audit.scoring.stage import ScoreStage
from tests.ray_session import wait_until_idle


class RecordingScorer(KeyScorerActor):
    """The scoring actor of a (deduplicated) scan that writes, once per actor, its Ray GPU ids and the device
    its model landed on."""

    record_dir = ""

    def __init__(self, stage, torch_threads: int, output: str):
        super().__init__(stage, torch_threads, output)
        record = {"gpu_ids": [str(g) for g in ray.get_gpu_ids()], "device": str(self.stage.scorer.model.device),
                  "dtype": str(self.stage.scorer.model.dtype), "batch_size": self.stage.scorer.batch_size}
        Path(self.record_dir, f"actor-{os.getpid()}.json").write_text(json.dumps(record))


@pytest.fixture(scope="module")
def local_ray_of():
    """Start a local Ray of `num_cpus` CPUs and `num_gpus` logical GPUs (no CUDA behind them), as `ray start
    --num-cpus --num-gpus` would; the running one is kept when it has the same (the tests asking alike are adjacent)."""
    running = []

    def start(num_cpus: int, num_gpus: int) -> None:
        if running == [num_cpus, num_gpus]:
            wait_until_idle()  # the earlier test's actors have ended
            return
        ray.shutdown()
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, log_to_driver=False)
        running[:] = [num_cpus, num_gpus]

    yield start
    ray.shutdown()


def test_gpu_shortfall_counts_one_gpu_per_actor_of_a_fixed_pool_and_the_first_of_an_elastic_one():
    pool = PoolOptions(2, {"num_gpus": 1, "num_cpus": 0.5}, 1)
    assert gpu_shortfall(pool, {"GPU": 2.0, "CPU": 4.0}) is None
    assert gpu_shortfall(pool, {"GPU": 1.0}) == "2 scoring actor(s) need 2 GPU(s) but the Ray cluster has 1"
    assert gpu_shortfall(PoolOptions(1, {"num_cpus": 0.5}, 1), {}) is None
    elastic = PoolOptions(2, {"num_gpus": 1, "num_cpus": 0.5}, 1, max_size=8)
    assert gpu_shortfall(elastic, {"GPU": 1.0}) is None
    assert gpu_shortfall(elastic, {}) == "1 scoring actor(s) need 1 GPU(s) but the Ray cluster has 0"


@pytest.mark.slow
@pytest.mark.timeout(300)  # the failure this guards against is a scan that waits forever
def test_default_device_puts_one_actor_on_each_logical_gpu(local_ray_of, tiny_eps, tmp_path, monkeypatch):
    local_ray_of(2, 2)  # 2 CPUs, which two 1-CPU GPU actors once took whole, hanging the scan
    pool = actor_options("auto", None, None)
    assert (pool.size, pool.most, pool.fixed) == (2, 2, False) and pool.resources == {"num_gpus": 1, "num_cpus": 0.5}
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr(RecordingScorer, "record_dir", str(tmp_path))
    monkeypatch.setattr(distinct, "KeyScorerActor", RecordingScorer)
    for k in range(4):
        write_laion(tmp_path / f"part-{k}.parquet", 40 * k, 40)
    out = tmp_path / "out"
    assert main(["scan", str(tmp_path / "*.parquet"), "-o", str(out), "--model", str(tiny_eps), "--top-k", "3",
                 "--small-scan-rows", "0"]) == 0  # the Ray Data steps: their groupby spreads the keys over both actors
    actors = [json.loads(p.read_text()) for p in tmp_path.glob("actor-*.json")]
    assert sorted(a["gpu_ids"][0] for a in actors) == ["0", "1"] and all(len(a["gpu_ids"]) == 1 for a in actors)
    assert {(a["device"], a["dtype"], a["batch_size"]) for a in actors} == {("cpu", "torch.float32", 32)}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["pool"]["most_at_once"] >= 1  # 148 keys: one or two calls of 256
    assert {k: summary["pool"][k] for k in ("actors", "max_actors", "elastic", "num_gpus", "num_cpus", "nodes_seen")} \
        == {"actors": 2, "max_actors": 2, "elastic": True, "num_gpus": 1, "num_cpus": 0.5, "nodes_seen": 1}
    report = pd.read_parquet(out / "report")
    assert len(report) == 160 and report.set_index(["source", "row_index"]).index.is_unique
    assert (report["status"] == "ok").sum() == summary["rows_scored"] == 160 - 4 * 3
    meta = read_metadata(next((out / "report").glob("*.parquet")))
    assert (meta["device"], meta["dtype"]) == ("cpu", "float32")


def test_cuda_without_cuda_behind_the_gpus_fails_with_the_loaders_reason(local_ray_of, tiny_eps, tmp_path):
    local_ray_of(2, 2)
    pool = actor_options("cuda", 1, None)
    with pytest.raises(ValueError, match="CUDA is not available"):
        describe_on_pool(ScoreStage(model=str(tiny_eps), device="cuda"), pool, 0, str(tmp_path))


@pytest.mark.slow
@pytest.mark.timeout(400)  # the failure this guards against: keying, scoring or mitigation waiting for a CPU forever
def test_one_cpu_and_one_gpu_node_scans_on_ray_data_and_mitigates(local_ray_of, tiny_eps, tmp_path):
    local_ray_of(1, 1)  # a GPU node with one CPU: the actor's half CPU leaves half for tasks
    for k in range(2):
        write_laion(tmp_path / f"part-{k}.parquet", 40 * k, 40)
    out = tmp_path / "out"
    assert main(["scan", str(tmp_path / "*.parquet"), "-o", str(out), "--model", str(tiny_eps), "--top-k", "2",
                 "--small-scan-rows", "0", "--stall-timeout", "150"]) == 0  # keying, scoring, joining on Ray Data
    report = pd.read_parquet(out / "report")
    assert len(report) == 80 and (report["status"] == "ok").sum() == 80 - 2 * 3
    second = report.sort_values("rank")["score"].iloc[1]
    assert main(["mitigate", str(out), "--threshold", str(second), "--max-steps", "2"]) == 0
    mitigated = pd.read_parquet(out / "mitigations.parquet")
    assert len(mitigated) == int((report["score"] >= second).sum()) >= 2


@pytest.mark.timeout(60)  # the failure this guards against is a scan that waits forever
def test_cuda_on_a_cluster_without_gpus_fails_in_one_line(local_ray_of, tiny_eps, tmp_path, capsys):
    local_ray_of(1, 0)
    write_laion(tmp_path / "part-0.parquet", 0, 10)
    code = main(["scan", str(tmp_path / "part-0.parquet"), "-o", str(tmp_path / "out"), "--model", str(tiny_eps),
                 "--device", "cuda"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert err.startswith("error: 1 scoring actor(s) need 1 GPU(s) but the Ray cluster has 0 (use --device cpu")


@pytest.mark.timeout(60)
def test_gpu_wait_gives_up_after_the_wait(local_ray_of, tiny_eps, tmp_path):
    local_ray_of(1, 0)
    pool = actor_options("cuda", None, None)
    with pytest.raises(PlacementError, match=r"has 0, still after 0.5 s"):
        describe_on_pool(ScoreStage(model=str(tiny_eps), device="cuda"), pool, 0.5, str(tmp_path))
