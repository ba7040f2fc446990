"""The scan on a real multi-node Ray (ray.cluster_utils.Cluster, every node on 127.0.0.1, its own temp folder):
the elastic pool grows onto a GPU node that joins mid-scan, and a GPU node lost while its actor scores costs at
most one rerun, after which the report equals that of an undisturbed run.

The GPUs are logical (no CUDA behind them): the actors score on the CPU. To add or remove a node while an actor
is inside a call (not before, not after), the first node's actor holds its calls until the test releases them.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
from builders import write_laion
from ray.cluster_utils import Cluster

from audit.cli.main import main
from audit.pipeline.dedup import distinct
from audit.pipeline.dedup.distinct import KeyScorerActor

NODE = {"node_ip_address": "127.0.0.1", "object_store_memory": 100 * 2**20}
FILES, ROWS = 4, 100  # 400 distinct captions, in 13 calls of 32 (--batch-size 4)
SCAN = ["--batch-size", "4", "--max-actors", "2", "--top-k", "5", "--stall-timeout", "300"]
DEADLINE = 120.0


class HeldScorer(KeyScorerActor):
    """The key-scoring actor, recording its node once per (re)start; on node `held_node`, each call waits until the
    file `release` exists (or the node dies with the actor in the call)."""

    record_dir, held_node = "", ""

    def __init__(self, stage, torch_threads: int, output: str):
        super().__init__(stage, torch_threads, output)
        self.node = ray.get_runtime_context().get_node_id()
        Path(self.record_dir, f"actor-{os.getpid()}.json").write_text(json.dumps({"node": self.node}))

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        deadline = time.monotonic() + DEADLINE
        while self.node == self.held_node and not Path(self.record_dir, "release").exists() and time.monotonic() < deadline:
            Path(self.record_dir, "held").touch()
            time.sleep(0.05)
        return super().__call__(batch)


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _actors(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in folder.glob("actor-*.json")]


@pytest.fixture
def cluster(monkeypatch, tmp_path):
    """A head without GPUs (the driver, the CPU tasks) and a node with one logical GPU; the driver connected."""
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths live under it
    monkeypatch.setenv("RAY_TMPDIR", temp)  # the cluster's address file is written here, not in /tmp/ray
    # no exit hooks: they set signal handlers, which a node added from the test's helper thread could not
    cluster = Cluster(initialize_head=True, shutdown_at_exit=False,
                      head_node_args={"num_cpus": 2, "num_gpus": 0, "include_dashboard": False, **NODE})
    try:
        cluster.add_node(num_cpus=1, num_gpus=1, **NODE)
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def inputs(tmp_path) -> str:
    for k in range(FILES):
        write_laion(tmp_path / f"part-{k}.parquet", ROWS * k, ROWS, bad=False)
    return str(tmp_path / "part-*.parquet")


@pytest.fixture
def held(monkeypatch, tmp_path) -> Path:
    """The folder where HeldScorer records its actors, holding calls on the cluster's first GPU node."""
    folder = tmp_path / "actors"
    folder.mkdir()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    first_gpu_node = next(n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU"))
    monkeypatch.setattr(HeldScorer, "record_dir", str(folder))
    monkeypatch.setattr(HeldScorer, "held_node", first_gpu_node)
    monkeypatch.setattr(distinct, "KeyScorerActor", HeldScorer)
    return folder


def _in_thread(work) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _report(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "report").drop(columns=["seconds"], errors="ignore").sort_values("row_id").reset_index(drop=True)


@pytest.mark.slow
def test_pool_grows_onto_a_gpu_node_that_joins_mid_scan(cluster, inputs, held, tmp_path, tiny_eps):
    marks = {}

    def add_a_gpu_node_then_release():
        _wait_for(lambda: (held / "held").exists(), "the first actor to be in a call")
        marks["first actor in a call"] = time.monotonic() - start
        cluster.add_node(num_cpus=1, num_gpus=1, **NODE)
        marks["second GPU node joined"] = time.monotonic() - start
        _wait_for(lambda: len(_actors(held)) >= 2, "a second actor")
        marks["second actor up"] = time.monotonic() - start
        (held / "release").touch()

    grower, start = _in_thread(add_a_gpu_node_then_release), time.monotonic()
    out = tmp_path / "out"
    assert main(["scan", inputs, "-o", str(out), "--model", str(tiny_eps), *SCAN]) == 0
    grower.join()
    summary = json.loads((out / "summary.json").read_text())
    pool = summary["pool"]
    print(f"\ngrowth: {time.monotonic() - start:.1f} s, {marks}, pool {pool}, timing {summary['timing']['phases']}")
    assert len({a["node"] for a in _actors(held)}) == 2
    assert (pool["elastic"], pool["actors"], pool["max_actors"]) == (True, 1, 2)
    assert (pool["most_at_once"], pool["nodes_at_once"]) == (2, 2)
    report = pd.read_parquet(out / "report")
    assert len(report) == FILES * ROWS and sorted(report["row_id"]) == list(range(FILES * ROWS))
    assert (report["status"] == "ok").all() and summary["complete"]
    assert summary["dedup"]["keys_scored_this_run"] == FILES * ROWS


@pytest.mark.slow
def test_a_gpu_node_lost_mid_call_costs_at_most_one_rerun(cluster, inputs, held, tmp_path, tiny_eps):
    first = next(iter(cluster.worker_nodes))

    def replace_the_gpu_node():
        _wait_for(lambda: (held / "held").exists(), "the first actor to be in a call")
        cluster.add_node(num_cpus=1, num_gpus=1, **NODE)  # what an autoscaler does for a reclaimed spot node
        cluster.remove_node(first, allow_graceful=False)

    replacer, start = _in_thread(replace_the_gpu_node), time.monotonic()
    out = tmp_path / "out"
    command = ["scan", inputs, "-o", str(out), "--model", str(tiny_eps), *SCAN]
    codes = [main(command)]
    replacer.join()
    if codes[0] != 0:
        codes.append(main(command))
    disturbed = time.monotonic() - start
    summary = json.loads((out / "summary.json").read_text())
    print(f"\nlost node: exit codes {codes}, {disturbed:.1f} s, pool {summary['pool']}")
    assert codes in ([0], [5, 0])
    assert any(a["node"] != HeldScorer.held_node for a in _actors(held)), "the actor moved to the new node"
    (held / "release").touch()
    calm = tmp_path / "calm"  # undisturbed: a scan on this process's CPU
    assert main(["scan", inputs, "-o", str(calm), "--model", str(tiny_eps), "--device", "cpu", "--batch-size", "4",
                 "--top-k", "5"]) == 0
    assert json.loads((calm / "summary.json").read_text())["pool"]["in_driver"]
    pd.testing.assert_frame_equal(_report(out), _report(calm))
    assert json.loads((calm / "summary.json").read_text())["rows_scored"] == summary["rows_scored"] == FILES * ROWS
