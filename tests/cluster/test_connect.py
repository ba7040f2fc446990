"""The embedded local Ray listens on loopback only."""
import ray

from audit.cluster.connect import connected


def test_private_local_ray_is_on_loopback(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with connected(None):
        assert [n["NodeManagerAddress"] for n in ray.nodes()] == ["127.0.0.1"]
        assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert not ray.is_initialized()
