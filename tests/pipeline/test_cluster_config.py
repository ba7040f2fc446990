"""cluster.yaml is a valid Ray cluster launcher config (Ray's own JSON schema) for GPU scoring."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import ray.autoscaler
import yaml

CLUSTER_YAML = Path(__file__).resolve().parents[2] / "cluster.yaml"


def test_cluster_yaml_validates_against_rays_schema():
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    workers = config["available_node_types"]["gpu_worker"]
    assert workers["node_config"]["InstanceType"].startswith("g5.") and workers["max_workers"] > workers["min_workers"]
    # the documented job lets the elastic pool grow onto every GPU worker the autoscaler may add (g5.xlarge: 1 GPU)
    assert f"--max-actors {workers['max_workers']} " in CLUSTER_YAML.read_text() and "--actors " not in CLUSTER_YAML.read_text()
    setup = " ".join(config["setup_commands"])
    assert "torch==" in setup and "-e ~/memaudit" in setup and config["file_mounts"] == {"~/memaudit": "."}
