"""How many actors ran at once, on how many nodes, from the actors' calls; the pool's Ray Data strategy."""
import pandas as pd

from audit.cluster.pool import PoolOptions
from audit.cluster.usage import PoolUsage


def test_most_actors_at_once_their_nodes_and_the_timeline():
    usage = PoolUsage()
    usage.add_calls(pd.DataFrame({"actor": ["a", "a", "b", "c"], "node": ["n1", "n1", "n2", "n2"],
                                  "start": [100.0, 101.5, 101.2, 105.0], "end": [101.4, 102.9, 103.0, 105.5]}))
    summary = usage.summary()
    assert (summary["most_at_once"], summary["nodes_at_once"]) == (2, 2)  # a and b within seconds 101 and 102
    assert (summary["actors_seen"], summary["nodes_seen"]) == (3, 2)
    assert summary["timeline"] == [[0, 1], [1, 2], [3, 1], [4, 0], [5, 1]]  # 100: a; 101-102: a, b; 103: b; 105: c
    assert PoolUsage().summary() == {"most_at_once": 0, "nodes_at_once": 0, "actors_seen": 0, "nodes_seen": 0,
                                     "timeline": []}


def test_a_fixed_pool_keeps_its_size_and_an_elastic_one_grows_from_one():
    fixed = PoolOptions(3, {"num_gpus": 1, "num_cpus": 0.5}, 1).strategy()
    assert (fixed.min_size, fixed.max_size, fixed.initial_size) == (3, 3, 3)
    elastic = PoolOptions(2, {"num_gpus": 1, "num_cpus": 0.5}, 1, max_size=8)
    strategy = elastic.strategy()
    assert (strategy.min_size, strategy.max_size, strategy.initial_size) == (1, 8, 2)
    assert elastic.asks() == {"CPU": 0.5, "GPU": 1} and elastic.describe()["elastic"]
