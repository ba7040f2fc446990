"""How many scoring actors ran at once, and on how many nodes, from the calls the actors report (their actor,
their node, and when each call ran, on the wall clock), counted per second."""
from __future__ import annotations

import time

import ray

CALL_COLUMNS = ("actor", "node", "start", "end")


def call_record(start: float) -> dict:
    """Who ran the call that started at `start` (time.time()), where, and until now (without Ray: the driver)."""
    if not ray.is_initialized():
        return {"actor": "driver", "node": "driver", "start": start, "end": time.time()}
    context = ray.get_runtime_context()
    return {"actor": context.get_actor_id() or "driver", "node": context.get_node_id(), "start": start,
            "end": time.time()}


class PoolUsage:
    """The actors (and their nodes) that were in a call during each second of the scan."""

    def __init__(self):
        self.seconds: dict[int, dict[str, str]] = {}

    def add(self, actor: str, node: str, start: float, end: float) -> None:
        for second in range(int(start), int(end) + 1):
            self.seconds.setdefault(second, {})[actor] = node

    def add_calls(self, calls) -> None:
        """Each row of `calls` (a pyarrow table or pandas frame with CALL_COLUMNS)."""
        columns = calls.to_pydict() if hasattr(calls, "to_pydict") else calls.to_dict("list")
        for actor, node, start, end in zip(*(columns[c] for c in CALL_COLUMNS)):
            self.add(actor, node, start, end)

    def timeline(self) -> list[list]:
        """[seconds since the first call, actors in a call] at every change."""
        if not self.seconds:
            return []
        first, points = min(self.seconds), []
        for second in range(first, max(self.seconds) + 1):
            actors = len(self.seconds.get(second, {}))
            if not points or points[-1][1] != actors:
                points.append([second - first, actors])
        return points

    def summary(self) -> dict:
        """The most actors in a call within one second, the nodes they were on, and the actors and nodes seen."""
        peak = max(self.seconds.values(), key=len, default={})
        seen = {actor: node for actors in self.seconds.values() for actor, node in actors.items()}
        nodes = {node for actors in self.seconds.values() for node in actors.values()}
        return {"most_at_once": len(peak), "nodes_at_once": len(set(peak.values())), "actors_seen": len(seen),
                "nodes_seen": len(nodes), "timeline": self.timeline()}
