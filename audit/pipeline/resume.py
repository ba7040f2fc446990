"""Which shards a run folder already holds results for, and whether their inputs changed since."""
from __future__ import annotations

from typing import Callable

from audit.readers.inputs import Shard
from audit.runfolder import storage
from audit.runfolder.folder import RunFolder


def markers(folder: RunFolder, shards: list[Shard], ids: set[str] | None = None,
            path: Callable[[str], str] | None = None) -> list[tuple[str, dict]]:
    """(shard id, marker) of the shards with a marker (done/ unless `path` names another kind), in input order."""
    ids = folder.done_ids() if ids is None else ids
    path = path or folder.done
    return [(s.shard_id, storage.read_json(folder.fs, path(s.shard_id))) for s in shards if s.shard_id in ids]


def still_valid(found: list[tuple[str, dict]], shards: list[Shard]) -> tuple[set[str], list[str]]:
    """Ids of marked shards whose input is unchanged, and the sources of those whose input changed."""
    identity = {s.shard_id: s.identity for s in shards}
    valid = {sid for sid, m in found if identity[sid] is not None and m.get("input") == identity[sid]}
    return valid, [m["source"] for sid, m in found if sid not in valid]


def clear(folder: RunFolder, shard_ids: list[str]) -> None:
    """Forget everything a run folder holds for these shards (markers first: results never count half-written)."""
    for sid in shard_ids:
        storage.remove_file(folder.fs, folder.done(sid))
        storage.remove_file(folder.fs, folder.keyed(sid))
        storage.remove_file(folder.fs, folder.scores(sid))
        storage.remove_tree(folder.fs, folder.staging(sid))
        storage.remove_file(folder.fs, folder.failed(sid))


def forget_others(folder: RunFolder, shards: list[Shard]) -> list[str]:
    """Clear the units the folder holds that are not part of this scan (an input dropped, another --unit-rows),
    so that its markers and score files describe this scan's report alone; return their ids."""
    current = {s.shard_id for s in shards}
    others = sorted((folder.done_ids() | folder.ids("failed") | folder.keyed_ids() | folder.ids("scores", ".parquet"))
                    - current)
    clear(folder, others)
    return others


def failures(folder: RunFolder, shard_ids: list[str]) -> dict[str, str]:
    """Shard id -> reason, for the shards with a failed/ record."""
    return {sid: storage.read_json(folder.fs, folder.failed(sid))["reason"] for sid in shard_ids
            if storage.exists(folder.fs, folder.failed(sid))}


def left_inputs(folder: RunFolder, shards: list[Shard]) -> dict:
    """How many earlier inputs, and rows, of the folder's finished units are not among `shards`: their rows leave
    the report (`forget_others` then clears those units)."""
    current, sources = {s.shard_id for s in shards}, {s.source for s in shards}
    left: dict[str, int] = {}
    for sid in folder.done_ids() - current:
        marker = storage.read_json(folder.fs, folder.done(sid))
        if marker["source"] not in sources:
            left[marker["source"]] = left.get(marker["source"], 0) + int(marker["rows"])
    return {"inputs": len(left), "rows": sum(left.values())}
