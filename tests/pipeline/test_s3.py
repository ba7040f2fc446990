"""Read Parquet shards from, and write the report to, a real S3 API (moto server on 127.0.0.1)."""
from __future__ import annotations

import io
import json
import os
import socket

import pandas as pd
import pyarrow.fs as pafs
import pytest
import ray
from builders import write_laion, write_tar
from moto.server import ThreadedMotoServer

from audit.cli.main import main

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3():
    """An S3 endpoint with buckets `inputs` and `results`, set in the environment before Ray starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = CREDENTIALS | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    fs = pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"], allow_bucket_creation=True)
    for bucket in ("inputs", "results"):
        fs.create_dir(bucket)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield fs
    ray.shutdown()
    server.stop()
    for key, value in saved.items():
        if value is None:
            del os.environ[key]
        else:
            os.environ[key] = value


def test_scan_reads_from_and_writes_to_s3(s3, tiny_eps, tmp_path):
    for k in range(3):
        local = write_laion(tmp_path / f"part-{k}.parquet", 30 * k, 30)
        with s3.open_output_stream(f"inputs/laion/part-{k}.parquet") as out:
            out.write(local.read_bytes())
    code = main(["scan", "s3://inputs/laion/", "s3://inputs/laion/missing.parquet", "-o", "s3://results/run",
                 "--model", str(tiny_eps), "--batch-size", "8", "--top-fraction", "0.1"])
    assert code == 3
    names = {i.path for i in s3.get_file_info(pafs.FileSelector("results/run", recursive=True))}
    assert {"results/run/summary.json", "results/run/flagged.parquet", "results/run/run.json"} <= names
    assert sum(n.startswith("results/run/done/") for n in names) == 3
    report = pd.read_parquet("results/run/report", filesystem=s3)
    assert len(report) == 90 and sorted(report["row_id"]) == list(range(90))
    assert set(report["source"]) == {f"s3://inputs/laion/part-{k}.parquet" for k in range(3)}
    with s3.open_input_stream("results/run/summary.json") as src:
        summary = json.load(io.BytesIO(src.read()))
    assert summary["shards"]["failed"] == [{"source": "s3://inputs/laion/missing.parquet",
                                            "shard_id": summary["shards"]["failed"][0]["shard_id"],
                                            "reason": "file not found"}]
    assert summary["flagged"] == 9 == int(report["flagged"].sum())


def test_score_reads_a_webdataset_tar_from_s3(s3, tiny_eps, tmp_path):
    """`score` uses the scan's readers: every input kind, every filesystem."""
    local = write_tar(tmp_path / "shard.tar", 0, 12)
    with s3.open_output_stream("inputs/wds/shard.tar") as out:
        out.write(local.read_bytes())
    assert main(["score", "-i", "s3://inputs/wds/shard.tar", "-o", str(tmp_path / "out.parquet"),
                 "--model", str(tiny_eps), "--batch-size", "8"]) == 0
    report = pd.read_parquet(tmp_path / "out.parquet")
    assert len(report) == 12 and sorted(report["row_id"]) == list(range(12))
    assert report["key"].notna().all() and (report["status"] == "ok").sum() == 10
