"""The watchdog: a scan whose scoring actors no node can host stops within --stall-timeout with one line that
names the step, what an actor asks and what the cluster has free (exit 5), instead of waiting forever."""
from __future__ import annotations

import time

import pytest
import ray
from builders import write_laion

from audit.cli.main import main
from audit.cluster import pool as pools
from audit.pipeline import run


@pytest.fixture
def two_cpu_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def actors_nowhere(device, actors, actor_cpus, max_actors=None):
    """The default pool, each actor also asking for a resource that no node has."""
    pool = pools.actor_options(device, actors, actor_cpus, max_actors)
    return pools.PoolOptions(pool.size, pool.resources | {"resources": {"nowhere": 1}}, pool.torch_threads,
                             pool.max_size)


@pytest.mark.slow
@pytest.mark.timeout(120)  # the failure this guards against is a scan that waits forever
def test_unschedulable_actors_stop_the_scan_in_one_line(two_cpu_ray, tiny_eps, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(run, "actor_options", actors_nowhere)
    write_laion(tmp_path / "part-0.parquet", 0, 20)
    start = time.monotonic()
    code = main(["scan", str(tmp_path / "part-0.parquet"), "-o", str(tmp_path / "out"), "--model", str(tiny_eps),
                 "--stall-timeout", "3", "--small-scan-rows", "0"])  # on Ray: a small scan here needs no actor
    seconds = time.monotonic() - start
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 5 and seconds < 60
    assert err.startswith("error: stalled: no unit or batch of 'starting the first scoring actor' finished for ")
    assert "each scoring actor asks CPU 0.5, GPU 0, nowhere 1" in err
    assert "the Ray cluster has free CPU 2 of 2, GPU 0 of 0, nowhere 0 of 0" in err
    assert err.endswith("run the same command again to resume")
