"""Pipeline fixtures: one local Ray per test module, small caption shards in the input formats of `scan`."""
from __future__ import annotations

from pathlib import Path

import pytest
import ray
from builders import write_laion, write_tar


@pytest.fixture(scope="module")
def local_ray() -> str:
    """A Ray instance for the module's in-process scans (a scan reuses this process's connection); its address."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """Three LAION Parquet shards of 50 rows and a 20-sample tar shard, in one folder."""
    folder = tmp_path_factory.mktemp("shards")
    for k in range(3):
        write_laion(folder / f"part-{k:05d}.parquet", 50 * k, 50)
    write_tar(folder / "images-00000.tar", 1000, 20)
    return folder
