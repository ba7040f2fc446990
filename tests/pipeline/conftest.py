"""Pipeline fixtures: the local Ray of in-process scans, small caption shards in the input formats of `scan`."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import write_laion, write_tar

from tests import ray_session


@pytest.fixture(scope="module")
def local_ray() -> str:
    """The Ray of the module's in-process scans (a scan reuses this process's connection; the modules of a test
    process share it); its address. After the module, no task or actor of it may still hold a CPU or GPU."""
    yield ray_session.shared()
    ray_session.wait_until_idle(timeout=30)


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """Three LAION Parquet shards of 50 rows, a 20-sample tar shard, a 3-line jsonl, a Parquet file of
    non-string captions and an empty text file, in one folder.

    The tar's `url` values are strings, the jsonl's numbers: the report must hold both.
    """
    folder = tmp_path_factory.mktemp("shards")
    for k in range(3):
        write_laion(folder / f"part-{k:05d}.parquet", 50 * k, 50)
    write_tar(folder / "images-00000.tar", 1000, 20)
    (folder / "extra.jsonl").write_text('{"caption": "a lone green boat", "url": 17}\nnot json\n'
                                        '{"caption": "a blue kite", "url": 18}\n')
    pq.write_table(pa.table({"caption": pa.array([3, None], pa.int64())}), folder / "numbers.parquet")
    (folder / "empty.txt").write_bytes(b"")
    return folder
