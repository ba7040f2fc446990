"""Addresses: credentials removed wherever one is stored or shown; pyarrow's query options kept."""
from __future__ import annotations

from audit.runfolder import storage


def test_redact_removes_user_info_and_secret_parameters_and_keeps_options():
    assert storage.redact("s3://AKID:SeCrEt@bucket/a.parquet") == "s3://bucket/a.parquet"
    given = "s3://bucket/b.parquet?access_key=AKID&secret_key=SeCrEt&endpoint_override=127.0.0.1:9&region=eu-west-1"
    assert storage.redact(given) == "s3://bucket/b.parquet?endpoint_override=127.0.0.1:9&region=eu-west-1"
    message = "error: gs://u:pw@b/x.txt: no such file; /local/a.txt"
    assert storage.redact(message) == "error: gs://b/x.txt: no such file; /local/a.txt"


def test_query_credentials_reach_pyarrow_as_user_info():
    assert storage._pyarrow_uri("s3://b/x?access_key=K&secret_key=S%2F1&region=r") == "s3://K:S%2F1@b/x?region=r"
    assert storage._pyarrow_uri("s3://b/x?region=r") == "s3://b/x?region=r"


def test_child_keeps_the_query_after_the_path():
    assert storage.child("s3://b/run?endpoint_override=h:9", "embeddings") == "s3://b/run/embeddings?endpoint_override=h:9"
    assert storage.child("/tmp/run", "embeddings", "1.safetensors") == "/tmp/run/embeddings/1.safetensors"
