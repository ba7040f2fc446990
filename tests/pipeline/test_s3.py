"""Read Parquet shards from, and write the report to, a real S3 API (moto server on 127.0.0.1)."""
from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import ray
from builders import write_laion, write_tar
from moto.server import ThreadedMotoServer
from safetensors.torch import load

from audit.cli.main import main
from audit.model.loader import DEFAULT_MODEL

SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYfakeSECRET"
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
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
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
    assert main(["scan", "s3://inputs/laion/missing.parquet", "-o", "s3://results/run"]) == 2  # before Ray starts
    assert not s3.get_file_info(pafs.FileSelector("results/run", allow_not_found=True))
    with s3.open_output_stream("inputs/broken/garbage.parquet") as out:
        out.write(b"PAR1 not parquet")
    code = main(["scan", "s3://inputs/laion/", "s3://inputs/broken/garbage.parquet", "-o", "s3://results/run",
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
    [failed] = summary["shards"]["failed"]
    assert failed["source"] == "s3://inputs/broken/garbage.parquet" and "unreadable Parquet file" in failed["reason"]
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


def test_mitigated_scan_writes_everything_under_the_output_uri(s3, tmp_path):
    """Embeddings go to the bucket, like every other file of the run, not to a worker's working directory."""
    labels = Path(DEFAULT_MODEL) / "labels"
    captions = [*labels.joinpath("memorized.txt").read_text().splitlines()[:2],
                *labels.joinpath("clean.txt").read_text().splitlines()[:2]]
    with s3.open_output_stream("inputs/canary/captions.txt") as out:
        out.write("\n".join(captions).encode())
    assert main(["scan", "s3://inputs/canary/captions.txt", "-o", "s3://results/mitigated", "--top-k", "1",
                 "--mitigate", "--max-steps", "2", "--max-edits", "1"]) == 0
    mitigations = pd.read_parquet("results/mitigated/mitigations.parquet", filesystem=s3)
    assert len(mitigations) == 1 and mitigations["status"].tolist() == ["ok"]
    row_id = int(mitigations["row_id"][0])
    assert mitigations["embedding_file"][0] == f"embeddings/{row_id}.safetensors"  # relative to the run folder
    with s3.open_input_stream(f"results/mitigated/embeddings/{row_id}.safetensors") as src:
        assert load(src.read())["prompt_embeds"].ndim == 3


def run_folder_text(s3, root: str) -> dict[str, str]:
    """Every file under `root`: its bytes as text, and for Parquet also its decoded rows and schema metadata."""
    texts = {}
    for info in s3.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        with s3.open_input_stream(info.path) as src:
            texts[info.path] = src.read().decode("latin-1")
        if info.path.endswith(".parquet"):
            table = pq.read_table(info.path, filesystem=s3)
            texts[info.path] += repr(table.to_pylist()) + repr(table.schema.metadata)
    return texts


def test_credentials_in_addresses_are_never_stored_or_printed(s3, tiny_eps, tmp_path):
    """Credentials as user info or as query parameters (with pyarrow's own options beside them) are used to
    read, and appear in no file of the run folder and in no output line."""
    for k, name in enumerate(("creds/a.parquet", "creds/b.parquet", "other/c.parquet")):
        local = write_laion(tmp_path / f"{k}.parquet", 20 * k, 20)
        with s3.open_output_stream(f"inputs/{name}") as out:
            out.write(local.read_bytes())
    with s3.open_output_stream("inputs/creds/garbage.parquet") as out:
        out.write(b"PAR1 not parquet")
    host = os.environ["AWS_ENDPOINT_URL"].removeprefix("http://")
    inputs = [f"s3://AKIDFAKE1:{SECRET}1@inputs/creds/",
              f"s3://inputs/other/c.parquet?access_key=AKIDFAKE2&secret_key={SECRET}2&endpoint_override={host}"
              f"&scheme=http"]
    done = subprocess.run([sys.executable, "-m", "audit", "scan", *inputs, "-o", f"s3://AKIDOUT:{SECRET}3@results/creds",
                           "--model", str(tiny_eps), "--batch-size", "8", "--top-k", "2",
                           "--address", ray.get_runtime_context().gcs_address],
                          capture_output=True, text=True, timeout=600, env=os.environ | {"AUDIT_TORCH_THREADS": "1"})
    assert done.returncode == 3, done.stderr[-2000:]  # the garbage file fails its shard; the others are read
    report = pd.read_parquet("results/creds/report", filesystem=s3)
    assert sorted(set(report["source"])) == ["s3://inputs/creds/a.parquet", "s3://inputs/creds/b.parquet",
                                             f"s3://inputs/other/c.parquet?endpoint_override={host}&scheme=http"]
    assert len(report) == 60
    texts = run_folder_text(s3, "results/creds")
    assert {"results/creds/summary.json", "results/creds/report.html", "results/creds/flagged.parquet"} <= set(texts)
    assert any(p.startswith("results/creds/failed/") for p in texts)
    assert "s3://inputs/creds/garbage.parquet: unreadable Parquet file" in done.stderr  # named, without credentials
    missing = subprocess.run([sys.executable, "-m", "audit", "scan", f"s3://AKIDFAKE1:{SECRET}1@inputs/creds/gone.parquet",
                              "-o", str(tmp_path / "gone")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stderr == "error: s3://inputs/creds/gone.parquet: no such file or folder\n"
    for where, text in [*texts.items(), ("stdout", done.stdout), ("stderr", done.stderr)]:
        assert SECRET not in text and "AKIDFAKE" not in text and "AKIDOUT" not in text, where
