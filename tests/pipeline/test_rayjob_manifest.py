"""jobs/rayjob.yaml is a valid KubeRay RayJob (the CRD's v1 OpenAPI schema, unknown fields refused as
`kubectl apply` does) that runs `scan` on a GPU worker group with the project's dependencies."""
from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml

from audit.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
CRD = REPO.parent / "shared" / "schemas" / "ray.io_rayjobs.yaml"
IMAGE_PROVIDES = {"ray", "pyarrow", "pandas"}  # in rayproject/ray images


def strict(schema):
    """The schema with unknown fields refused wherever it lists properties (Kubernetes' strict field validation)."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    return [strict(v) for v in schema] if isinstance(schema, list) else schema


@pytest.fixture(scope="module")
def validator():
    if not CRD.is_file():
        pytest.skip(f"the RayJob CRD is not at {CRD} (../shared/schemas of the repository root)")
    crd = yaml.safe_load(CRD.read_text())
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
    return jsonschema.Draft7Validator(strict(schema))


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((REPO / "jobs" / "rayjob.yaml").read_text())


def test_manifest_validates_against_the_rayjob_crd(validator, manifest):
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayJob")
    validator.validate(manifest)
    spec = manifest["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0


def test_the_schema_check_catches_a_misspelt_field(validator, manifest):
    broken = copy.deepcopy(manifest)
    broken["spec"]["shutdownAfterJobFinish"] = broken["spec"].pop("shutdownAfterJobFinishes")
    assert not validator.is_valid(broken)


def test_scan_runs_on_gpu_workers_with_the_projects_dependencies(manifest):
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11")
    spec = manifest["spec"]
    workers = spec["rayClusterSpec"]["workerGroupSpecs"]
    gpu = [w for w in workers if w["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu")]
    assert gpu and all(w["template"]["spec"]["containers"][0]["image"].endswith("-gpu") for w in gpu)
    words = shlex.split(spec["entrypoint"])
    assert words[:2] == ["python", "jobs/audit_job.py"] and (REPO / words[1]).is_file()
    args = build_parser().parse_args(["scan", *words[2:]])
    assert args.device == "cuda" and args.output.startswith("s3://")
    # the elastic pool may use every GPU the autoscaling group can add
    assert spec["rayClusterSpec"]["enableInTreeAutoscaling"] and args.actors is None
    assert args.max_actors == sum(w["maxReplicas"] * int(w["template"]["spec"]["containers"][0]["resources"]["limits"]
                                                         ["nvidia.com/gpu"]) for w in gpu) > gpu[0]["minReplicas"]
    env = yaml.safe_load(spec["runtimeEnvYAML"])
    pip = {re.split(r"[<>=\[ ]", p)[0].lower() for p in env["pip"]}
    needed = {re.split(r"[<>=\[ ]", d)[0].lower() for d in tomllib.loads((REPO / "pyproject.toml").read_text())
              ["project"]["dependencies"]}
    assert needed - IMAGE_PROVIDES <= pip and env["working_dir"].endswith(".zip")
