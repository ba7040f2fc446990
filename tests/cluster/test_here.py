"""When a pool would be one actor on this machine, the work runs in this process and Ray is never started."""
import pytest
import ray

from audit.cluster.here import one_actor_here


@pytest.fixture
def no_cluster(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert not ray.is_initialized()


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_no_cluster_and_no_pool_size_runs_here(no_cluster, device):
    assert one_actor_here(None, device, None)  # this machine has no GPU, so auto is one CPU actor too


@pytest.mark.parametrize("address, actors, max_actors", [("127.0.0.1:6379", None, None), (None, 1, None),
                                                          (None, None, 1), ("auto", None, None)])
def test_a_named_cluster_or_a_pool_size_keeps_the_pool(no_cluster, address, actors, max_actors):
    assert not one_actor_here(address, "cpu", actors, max_actors)


def test_ray_address_in_the_environment_keeps_the_pool(no_cluster, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert not one_actor_here(None, "auto", None)


@pytest.mark.slow
def test_a_connected_ray_with_gpus_keeps_the_pool_unless_cpu_is_asked(no_cluster):
    ray.init(address="local", num_cpus=1, num_gpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert not one_actor_here(None, "auto", None) and not one_actor_here(None, "cuda", None)
        assert one_actor_here(None, "cpu", None)
    finally:
        ray.shutdown()
