"""Expanding files, folders, globs and brace patterns into shards."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import pytest

from audit.readers.dispatch import iter_shard
from audit.readers.errors import InputError
from audit.readers.inputs import Shard, expand_inputs
from tests.permissions import permissions_enforced


@pytest.fixture
def folder(tmp_path):
    for name in ("b.parquet", "a.parquet", "s-00000.tar", "s-00001.tar", "c.txt", "d.jsonl", "notes.md"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.parquet").write_bytes(b"")
    return tmp_path


def test_folder_lists_supported_files_recursively_in_order(folder):
    shards = expand_inputs([str(folder)])
    assert [s.source for s in shards] == [str(folder / n) for n in
                                          ("a.parquet", "b.parquet", "c.txt", "d.jsonl", "s-00000.tar", "s-00001.tar",
                                           "sub/e.parquet")]
    assert [s.kind for s in shards][:5] == ["parquet", "parquet", "txt", "jsonl", "webdataset"]


def test_glob_brace_pattern_and_duplicates(folder):
    shards = expand_inputs([str(folder / "*.parquet"), str(folder / "s-{00000..00001}.tar"), str(folder / "a.parquet")])
    assert [s.source for s in shards] == [str(folder / n) for n in
                                          ("a.parquet", "b.parquet", "s-00000.tar", "s-00001.tar")]
    with pytest.raises(InputError, match="s-00002.tar: no such file or folder"):
        expand_inputs([str(folder / "s-{00000..00002}.tar")])


def test_shard_ids_are_stable_unique_and_name_the_file(folder):
    first = expand_inputs([str(folder)])
    again = expand_inputs([str(folder / "*"), str(folder / "sub" / "*.parquet")])
    assert [s.shard_id for s in first] == [s.shard_id for s in again]
    assert len({s.shard_id for s in first}) == len(first)
    assert first[0].shard_id.startswith("a.parquet-")


def test_unusable_inputs_are_refused(folder):
    with pytest.raises(InputError, match="no .parquet, .tar, .txt or .jsonl files found"):
        expand_inputs([str(folder / "*.csv")])
    with pytest.raises(InputError, match="unsupported input type"):
        expand_inputs([str(folder / "notes.md")])


def test_listing_skips_hidden_files_and_stats_json_and_takes_json_only_by_glob(tmp_path):
    """img2dataset writes `*_stats.json` beside its shards; editors and sync tools leave hidden files."""
    for name in ("a.parquet", "00000_stats.json", "meta.json", ".b.parquet", ".cache/c.parquet", "sub/.d.txt",
                 "sub/e.txt", "x.json", "y_stats.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [s.source for s in expand_inputs([str(tmp_path)])] == [str(tmp_path / "a.parquet"), str(tmp_path / "sub/e.txt")]
    assert [s.source for s in expand_inputs([str(tmp_path / "*.json")])] == [str(tmp_path / n) for n in ("meta.json", "x.json")]
    assert [s.kind for s in expand_inputs([str(tmp_path / "meta.json")])] == ["jsonl"]  # named: read as JSON Lines


def test_one_file_named_several_ways_is_one_shard(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a cat\n")
    (tmp_path / "data" / "link.txt").symlink_to(tmp_path / "data" / "a.txt")
    shards = expand_inputs([str(tmp_path / "data"), f"file://{tmp_path}/data/a.txt", str(tmp_path / "data" / "link.txt")])
    assert [s.source for s in shards] == [str(tmp_path / "data" / "a.txt")]



def test_hidden_folders_are_never_entered_and_an_unreadable_folder_is_a_failing_shard(tmp_path):
    for name in ("a.txt", "locked/b.txt", ".hidden/c.txt", "open/d.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("a red cat\n")
    for name in ("locked", ".hidden"):
        (tmp_path / name).chmod(0)
    try:
        with permissions_enforced():
            with pytest.raises(PermissionError):
                os.listdir(tmp_path / "locked")
            shards = expand_inputs([str(tmp_path)])
    finally:
        for name in ("locked", ".hidden"):
            (tmp_path / name).chmod(0o755)
    assert [(s.source, s.kind) for s in shards] == [(str(tmp_path / "a.txt"), "txt"),
                                                    (str(tmp_path / "open" / "d.txt"), "txt"),
                                                    (str(tmp_path / "locked"), "folder")]
    assert shards[-1].error == "cannot list this folder (Permission denied)" and shards[-1].identity is None
    with pytest.raises(InputError, match="locked: cannot list this folder"):
        next(iter_shard(Shard.from_record(asdict(shards[-1])), None, None, 10))


LIST = """
import json, logging, sys
from audit.cli.main import sigterm_as_ctrl_c
from audit.readers.inputs import expand_inputs
logging.basicConfig(level=logging.DEBUG)
try:
    with sigterm_as_ctrl_c():  # as every command runs
        print(json.dumps([s.source for s in expand_inputs(sys.argv[1:])]))
except KeyboardInterrupt:
    sys.exit(130)
"""


def _listing(*inputs: str) -> subprocess.Popen:
    """A child process of this checkout that lists `inputs` as a command does, logging at debug level."""
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.Popen([sys.executable, "-c", LIST, *inputs], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def test_link_loops_are_listed_once_and_a_long_listing_stops_on_sigterm(tmp_path):
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("a red cat\n")
    (data / "sub" / "b.txt").write_text("a blue dog\n")
    (data / "sub" / "up").symlink_to(data)  # two loops: every path through them would be listed without end
    (data / "sub" / "again").symlink_to(data / "sub")
    listing = _listing(str(data))
    try:
        out, _ = listing.communicate(timeout=60)
    finally:
        listing.kill()
    assert listing.returncode == 0 and json.loads(out) == [str(data / "a.txt"), str(data / "sub" / "b.txt")]
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "everything").symlink_to("/")  # a real listing of seconds: the whole file system
    listing = _listing(str(tmp_path / "big"))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in listing.stderr], daemon=True).start()
    try:
        while "listing " not in lines.get(timeout=60):
            pass
        listing.send_signal(signal.SIGTERM)
        assert listing.wait(timeout=10) == 130
    finally:
        listing.kill()
        listing.wait()
